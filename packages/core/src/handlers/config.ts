/** Engine tunables (engine.md §12.1). All durations in milliseconds. */
export interface HandlerConfig {
  /** Re-runs of a handler body after an optimistic-lock conflict before the message is rescheduled. */
  concurrencyMaxRetries: number;
  /** Delay before a wait loop (upstream not ready, before/after stages in flight) re-checks. */
  retryDelayMs: number;
  /** Wait-loop re-checks before the stage is failed. */
  maxStageWaitRetries: number;
  /** Per-execution task timeout when neither the task nor the stage sets one. */
  defaultTaskTimeoutMs: number;
  /** Backoff for a plain task that returned RUNNING: min * 2^(n-1), capped, with jitter. */
  taskBackoffMinMs: number;
  taskBackoffMaxMs: number;
  taskBackoffJitter: number;
  /** Executions of one task run (first try + transient retries) before it fails (decision Q5). */
  maxTaskAttempts: number;
  /** Default jump budget per stage when `_max_jumps` is not set. */
  defaultMaxJumps: number;
  /**
   * Largest JSON (UTF-8 bytes) of one task result's `context` plus `outputs`; a bigger result fails
   * the task with OutputTooLargeError (error_code RESOURCE_EXHAUSTED). Default 1 MiB; 0 turns the check off.
   */
  maxOutputBytes: number;
}

export const DEFAULT_HANDLER_CONFIG: HandlerConfig = {
  concurrencyMaxRetries: 3,
  retryDelayMs: 15_000,
  maxStageWaitRetries: 240,
  defaultTaskTimeoutMs: 4 * 60 * 60 * 1000,
  taskBackoffMinMs: 1000,
  taskBackoffMaxMs: 60_000,
  taskBackoffJitter: 0.25,
  maxTaskAttempts: 10,
  defaultMaxJumps: 10,
  maxOutputBytes: 1024 * 1024,
};

/** `min * factor^(attempt-1)` with ±jitter, capped at max (engine.md §5.5). */
export function exponentialDelay(attempt: number, minMs: number, maxMs: number, jitter: number, factor = 2, random = Math.random): number {
  const base = minMs * factor ** Math.max(0, attempt - 1);
  const offset = (random() * 2 - 1) * jitter * base;
  return Math.max(0, Math.min(maxMs, base + offset));
}
