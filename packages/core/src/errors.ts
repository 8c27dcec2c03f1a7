// One typed hierarchy for everything the engine throws. Every error has a stable string `code`
// (for programs) and the upstream numeric `numericCode` (for users coming from the Python engine).

export const ErrorCode = {
  UNKNOWN: 'UNKNOWN',
  SYSTEM_ERROR: 'SYSTEM_ERROR',
  USER_CODE_ERROR: 'USER_CODE_ERROR',
  RESOURCE_EXHAUSTED: 'RESOURCE_EXHAUSTED',
  TASK_TIMEOUT: 'TASK_TIMEOUT',
  TASK_NOT_FOUND: 'TASK_NOT_FOUND',
  UPSTREAM_DEPENDENCY_FAILED: 'UPSTREAM_DEPENDENCY_FAILED',
  CONFIGURATION_INVALID: 'CONFIGURATION_INVALID',
  CONCURRENCY_CONFLICT: 'CONCURRENCY_CONFLICT',
  AUTHENTICATION_FAILED: 'AUTHENTICATION_FAILED',
  VALIDATION_FAILED: 'VALIDATION_FAILED',
  NETWORK_ERROR: 'NETWORK_ERROR',
  CIRCUIT_OPEN: 'CIRCUIT_OPEN',
  BULKHEAD_FULL: 'BULKHEAD_FULL',
  VERIFICATION_FAILED: 'VERIFICATION_FAILED',
  RECOVERY_FAILED: 'RECOVERY_FAILED',
} as const;
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

export interface StabilizeErrorOptions {
  cause?: unknown;
  errorCode?: ErrorCode;
}

export class StabilizeError extends Error {
  /** Stable machine-readable code, e.g. 'INVALID_STAGE_GRAPH'. */
  readonly code: string = 'STABILIZE_ERROR';
  /** Upstream numeric code (StabilizeError = 100, TransientError = 101, ...). */
  readonly numericCode: number = 100;
  /** Classification used in error records (`context.exception.details.error_code`). */
  readonly errorCode: ErrorCode | undefined;

  constructor(message: string, options: StabilizeErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.errorCode = options.errorCode;
  }
}

function defineCode<T extends StabilizeError>(self: T, code: string, numericCode: number): void {
  Object.defineProperty(self, 'code', { value: code, enumerable: true });
  Object.defineProperty(self, 'numericCode', { value: numericCode, enumerable: true });
}

// ---- validation ---------------------------------------------------------------------------------

/** The workflow definition is not valid; nothing was stored. */
export class ValidationError extends StabilizeError {
  constructor(message: string, options?: StabilizeErrorOptions) {
    super(message, options);
    defineCode(this, 'VALIDATION_FAILED', 100);
  }
}

export type StageGraphProblem = 'duplicate_ref' | 'self_edge' | 'unknown_ref' | 'cycle' | 'invalid_stage';

export class InvalidStageGraphError extends ValidationError {
  readonly problem: StageGraphProblem;
  /** The ref ids at fault. */
  readonly refIds: string[];
  constructor(problem: StageGraphProblem, message: string, refIds: string[]) {
    super(message);
    defineCode(this, 'INVALID_STAGE_GRAPH', 100);
    this.problem = problem;
    this.refIds = refIds;
  }
}

export class CircularDependencyError extends InvalidStageGraphError {
  constructor(message: string, refIds: string[]) {
    super('cycle', message, refIds);
    defineCode(this, 'CIRCULAR_DEPENDENCY', 100);
  }
}

export class InvalidStateTransitionError extends StabilizeError {
  constructor(
    readonly from: string,
    readonly to: string,
    readonly entityType: string,
    readonly entityId: string,
  ) {
    super(`Invalid state transition for ${entityType} ${entityId}: ${from} -> ${to}`);
    defineCode(this, 'INVALID_STATE_TRANSITION', 100);
  }
}

export class ConfigurationError extends StabilizeError {
  constructor(message: string, options?: StabilizeErrorOptions) {
    super(message, { errorCode: ErrorCode.CONFIGURATION_INVALID, ...options });
    defineCode(this, 'CONFIGURATION_INVALID', 104);
  }
}

// ---- task-facing errors --------------------------------------------------------------------------

export interface TransientErrorOptions extends StabilizeErrorOptions {
  /** Minimum delay before the retry, in milliseconds. */
  retryAfterMs?: number;
  /** Merged into the stage context before the retry, so the next attempt can resume. */
  contextUpdate?: Record<string, unknown>;
}

/** A failure worth retrying (network blip, busy resource). The task runs again after a backoff. */
export class TransientError extends StabilizeError {
  readonly retryAfterMs: number | undefined;
  readonly contextUpdate: Record<string, unknown>;
  constructor(message: string, options: TransientErrorOptions = {}) {
    super(message, options);
    defineCode(this, 'TRANSIENT', 101);
    this.retryAfterMs = options.retryAfterMs;
    this.contextUpdate = options.contextUpdate ?? {};
  }
}

/** A failure that retrying cannot fix. The task fails at once. */
export class PermanentError extends StabilizeError {
  constructor(message: string, options?: StabilizeErrorOptions) {
    super(message, options);
    defineCode(this, 'PERMANENT', 102);
  }
}

/** An optimistic-lock conflict: someone else changed the row first. Handlers re-read and retry. */
export class ConcurrencyError extends TransientError {
  constructor(message: string, options?: StabilizeErrorOptions) {
    super(message, options);
    defineCode(this, 'CONCURRENCY_CONFLICT', 105);
  }
}

/** The lease on a queue message was lost (it expired and another worker took the message). */
export class LeaseLostError extends ConcurrencyError {
  constructor(message: string) {
    super(message);
    defineCode(this, 'LEASE_LOST', 105);
  }
}

export class RecoveryError extends StabilizeError {
  constructor(message: string, options?: StabilizeErrorOptions) {
    super(message, options);
    defineCode(this, 'RECOVERY_FAILED', 103);
  }
}

export class TaskError extends StabilizeError {
  constructor(message: string, options?: StabilizeErrorOptions) {
    super(message, options);
    defineCode(this, 'TASK_ERROR', 200);
  }
}

export class TaskTimeoutError extends TaskError {
  constructor(message: string, options?: StabilizeErrorOptions) {
    super(message, options);
    defineCode(this, 'TASK_TIMEOUT', 201);
  }
}

export class TaskNotFoundError extends TaskError {
  constructor(readonly taskType: string) {
    super(`No task found for type: ${taskType}`);
    defineCode(this, 'TASK_NOT_FOUND', 202);
  }
}

/** Thrown by `StageExecution.throwIfCancellationRequested` and treated as permanent. */
export class TaskCancelledError extends TaskError {
  constructor(message = 'Task was cancelled') {
    super(message);
    defineCode(this, 'TASK_CANCELLED', 200);
  }
}

export class WorkflowError extends StabilizeError {
  constructor(message: string, options?: StabilizeErrorOptions) {
    super(message, options);
    defineCode(this, 'WORKFLOW_ERROR', 300);
  }
}

export class WorkflowNotFoundError extends WorkflowError {
  constructor(readonly workflowId: string) {
    super(`Workflow not found: ${workflowId}`);
    defineCode(this, 'WORKFLOW_NOT_FOUND', 301);
  }
}

export class StageNotFoundError extends StabilizeError {
  constructor(readonly stageId: string) {
    super(`Stage not found: ${stageId}`);
    defineCode(this, 'STAGE_NOT_FOUND', 400);
  }
}

export class QueueError extends StabilizeError {
  constructor(message: string, options?: StabilizeErrorOptions) {
    super(message, options);
    defineCode(this, 'QUEUE_ERROR', 500);
  }
}

export class VerificationError extends StabilizeError {
  constructor(message: string, options?: StabilizeErrorOptions) {
    super(message, options);
    defineCode(this, 'VERIFICATION_FAILED', 600);
  }
}

/** A stored row the engine cannot understand (malformed JSON, unknown status or message type). */
export class CorruptDataError extends StabilizeError {
  constructor(message: string, options?: StabilizeErrorOptions) {
    super(message, options);
    defineCode(this, 'CORRUPT_DATA', 100);
  }
}

/** Where a corrupt value was found: the table (or in-memory collection), its row and column. */
export interface CorruptRowLocation {
  /** Table of the row, e.g. `stage_executions`, `pipeline_executions`, `queue_messages`. */
  table: string;
  /** Primary key of the row. */
  rowId: string;
  /** The workflow the row belongs to, when the row names it. */
  workflowId?: string | null;
  /** The column that could not be decoded. */
  column: string;
}

/**
 * One stored row that cannot be decoded: malformed JSON, a JSON value of the wrong shape, an unknown
 * status or message type. The engine marks the row's workflow TERMINAL and dead-letters the message
 * that met it (see docs/error-handling.md); the row itself is left as it is, for inspection.
 */
export class CorruptRowError extends CorruptDataError {
  readonly table: string;
  readonly rowId: string;
  readonly workflowId: string | null;
  readonly column: string;
  /** What is wrong with the value, without the location. */
  readonly problem: string;

  constructor(location: CorruptRowLocation, problem: string, options?: StabilizeErrorOptions) {
    const workflow = location.workflowId ? ` of workflow ${location.workflowId}` : '';
    super(`Corrupt row: ${location.table} row ${location.rowId}${workflow} (column ${location.column}): ${problem}`, options);
    defineCode(this, 'CORRUPT_ROW', 100);
    this.table = location.table;
    this.rowId = String(location.rowId);
    this.workflowId = location.workflowId ?? null;
    this.column = location.column;
    this.problem = problem;
  }
}

/** A task result whose context or outputs exceed `handlerConfig.maxOutputBytes` once serialized. */
export class OutputTooLargeError extends TaskError {
  constructor(
    readonly bytes: number,
    readonly limitBytes: number,
  ) {
    super(`Task output too large: ${bytes} bytes of JSON exceed the limit of ${limitBytes} bytes (maxOutputBytes)`, { errorCode: ErrorCode.RESOURCE_EXHAUSTED });
    defineCode(this, 'OUTPUT_TOO_LARGE', 200);
  }
}

// ---- classification --------------------------------------------------------------------------------

const TRANSIENT_ERRNO = new Set(['ECONNREFUSED', 'ECONNRESET', 'ECONNABORTED', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'EAI_AGAIN', 'EPIPE']);

/** Whether an error thrown by a task should be retried. Looks through the `cause` chain. */
export function isTransientError(error: unknown, depth = 0): boolean {
  if (depth > 10 || error === null || typeof error !== 'object') return false;
  if (error instanceof TransientError) return true;
  if (error instanceof PermanentError || error instanceof TaskCancelledError) return false;
  const code = (error as { code?: unknown }).code;
  if (typeof code === 'string' && TRANSIENT_ERRNO.has(code)) return true;
  const name = ((error as { name?: unknown }).name ?? error.constructor?.name ?? '').toString().toLowerCase();
  if (/validation|authentication|authorization|forbidden|notfound|invalid/.test(name)) return false;
  if (/timeout|connection|temporary|unavailable|retry|throttl|ratelimit/.test(name)) return true;
  return isTransientError((error as { cause?: unknown }).cause, depth + 1);
}

/** The `ErrorCode` recorded for an error in `context.exception.details.error_code`. */
export function classifyError(error: unknown, depth = 0): ErrorCode {
  if (depth > 10 || error === null || typeof error !== 'object') return ErrorCode.UNKNOWN;
  if (error instanceof StabilizeError) {
    if (error.errorCode) return error.errorCode;
    if (error instanceof ConcurrencyError) return ErrorCode.CONCURRENCY_CONFLICT;
    if (error instanceof TransientError) return ErrorCode.NETWORK_ERROR;
    if (error instanceof TaskTimeoutError) return ErrorCode.TASK_TIMEOUT;
    if (error instanceof TaskNotFoundError) return ErrorCode.TASK_NOT_FOUND;
    if (error instanceof PermanentError || error instanceof TaskError) return ErrorCode.USER_CODE_ERROR;
    if (error instanceof RecoveryError) return ErrorCode.RECOVERY_FAILED;
    if (error instanceof VerificationError) return ErrorCode.VERIFICATION_FAILED;
    if (error instanceof ValidationError) return ErrorCode.VALIDATION_FAILED;
    return ErrorCode.SYSTEM_ERROR;
  }
  const name = ((error as { name?: unknown }).name ?? '').toString().toLowerCase();
  const byName: Array<[RegExp, ErrorCode]> = [
    [/timeout|timedout/, ErrorCode.TASK_TIMEOUT],
    [/connection|network|socket|dns|http|url|fetch/, ErrorCode.NETWORK_ERROR],
    [/authentication|authorization|forbidden|unauthorized|permission/, ErrorCode.AUTHENTICATION_FAILED],
    [/validation|invalid|parse|schema|syntax/, ErrorCode.VALIDATION_FAILED],
    [/config|setting|environment/, ErrorCode.CONFIGURATION_INVALID],
    [/notfound|not_found/, ErrorCode.TASK_NOT_FOUND],
    [/resource|memory|quota|limit|exhausted|range/, ErrorCode.RESOURCE_EXHAUSTED],
  ];
  for (const [pattern, code] of byName) if (pattern.test(name)) return code;
  const cause = (error as { cause?: unknown }).cause;
  if (cause !== undefined) {
    const fromCause = classifyError(cause, depth + 1);
    if (fromCause !== ErrorCode.UNKNOWN) return fromCause;
  }
  return ErrorCode.UNKNOWN;
}

const MAX_ERROR_BYTES = 100 * 1024;

/** Error text bounded to 100 KiB (UTF-8 safe), as stored in `context.exception`. */
export function truncateErrorText(text: string): string {
  const bytes = Buffer.byteLength(text, 'utf8');
  if (bytes <= MAX_ERROR_BYTES) return text;
  let cut = Buffer.from(text, 'utf8').subarray(0, MAX_ERROR_BYTES).toString('utf8');
  if (cut.endsWith('\uFFFD')) cut = cut.slice(0, -1);
  return `${cut} [TRUNCATED]`;
}

export function errorMessage(error: unknown): string {
  if (error instanceof Error) return error.message;
  return String(error);
}

/** A transaction asked for a claim (mutex, deferred choice) that another stage holds. */
export class ClaimBlockedError extends StabilizeError {
  constructor(readonly claimKey: string, readonly ownerStageId: string) {
    super(`Claim '${claimKey}' is held by stage ${ownerStageId}`);
    defineCode(this, 'CLAIM_BLOCKED', 100);
  }
}
