import { type RetryableTask, type StageExecution, type Task, type TaskContext, TaskResult } from '@stabilize/core';
import { numberOr } from './internal/context.js';

export const WAIT_DEFAULT_TIMEOUT_MS = 24 * 60 * 60 * 1000;

function waitMs(stage: StageExecution): number {
  return Math.max(0, numberOr(stage.context.waitTime, 0)) * 1000;
}

/**
 * Waits `waitTime` seconds without holding a worker: it returns RUNNING with a backoff equal to the
 * time left. The start (`waitStartTime`, epoch seconds) is the task's own start, stored in the stage
 * context, so a restarted worker resumes the same wait. Registered as `wait` (alias `WaitTask`).
 */
export class WaitTask implements RetryableTask {
  readonly aliases = ['WaitTask'];

  getTimeout(): number {
    return WAIT_DEFAULT_TIMEOUT_MS;
  }

  /** 24 h, or the wait plus a minute when the wait is longer. */
  getDynamicTimeout(stage: StageExecution): number {
    return Math.max(WAIT_DEFAULT_TIMEOUT_MS, waitMs(stage) + 60_000);
  }

  /** The engine passes the time since the task started: the next look is when the wait ends. */
  getBackoffPeriod(stage: StageExecution, elapsedMs: number): number {
    return Math.max(0, waitMs(stage) - elapsedMs);
  }

  execute(stage: StageExecution, ctx: TaskContext): TaskResult {
    const now = ctx.clock.now();
    const taskStart = stage.taskById(ctx.taskId)?.startTime ?? now;
    const stored = typeof stage.context.waitStartTime === 'number' ? Math.round(stage.context.waitStartTime * 1000) : null;
    // A start stored by an earlier run of the stage (before a restart of the stage) does not count.
    const start = stored !== null && stored >= taskStart ? stored : taskStart;
    const waited = now - start;
    if (waited >= waitMs(stage)) return TaskResult.success({ outputs: { waitedSeconds: waited / 1000 } });
    return TaskResult.running({ context: { waitStartTime: start / 1000 } });
  }
}

/** Succeeds and does nothing else. Registered as `noop` (alias `NoOpTask`). */
export class NoOpTask implements Task {
  readonly aliases = ['NoOpTask'];
  execute(): TaskResult {
    return TaskResult.success();
  }
}
