import type { Clock } from '../clock.js';
import type { StageExecution } from '../model/stage-execution.js';
import type { TaskResult } from './task-result.js';

/** What the engine hands a task besides its stage. */
export interface TaskContext {
  /** Aborted when the stage is canceled or the execution times out. */
  signal: AbortSignal;
  /** 1 for the first execution of this task run, +1 per transient retry. */
  attempt: number;
  /** How many times this task has been polled (RUNNING results) so far, 0 on the first call. */
  clock: Clock;
  workflowId: string;
  taskId: string;
}

/**
 * A unit of work. `execute` may return a TaskResult or a Promise of one, and may throw:
 * TransientError (retried), PermanentError or any other error (the task fails).
 */
export interface Task {
  execute(stage: StageExecution, context: TaskContext): TaskResult | Promise<TaskResult>;
  /** Called when the execution or the task's total time runs out; a result replaces the failure. */
  onTimeout?(stage: StageExecution): TaskResult | null | undefined | Promise<TaskResult | null | undefined>;
  /** Called when the workflow is canceled while this task is running. */
  onCancel?(stage: StageExecution): TaskResult | null | undefined | Promise<TaskResult | null | undefined>;
  /** Called once the stage has reached its final status. */
  onCleanup?(stage: StageExecution): void | Promise<void>;
  /** Extra registry names for this task. */
  readonly aliases?: readonly string[];
}

/** A task that polls: it has a total time budget and a backoff between polls. */
export interface RetryableTask extends Task {
  /** Total time the task may keep returning RUNNING or retrying, in ms. */
  getTimeout(): number;
  /** Delay before the next poll, in ms (default 1000). */
  getBackoffPeriod?(stage: StageExecution, elapsedMs: number): number;
  /** Per-stage override of the total timeout (default `getTimeout()`). */
  getDynamicTimeout?(stage: StageExecution): number;
}

/** A task that can decide, before it runs, that it should be skipped. */
export interface SkippableTask extends Task {
  isEnabled(stage: StageExecution): boolean | Promise<boolean>;
}

export function isRetryableTask(task: Task): task is RetryableTask {
  return typeof (task as RetryableTask).getTimeout === 'function';
}

export function isSkippableTask(task: Task): task is SkippableTask {
  return typeof (task as SkippableTask).isEnabled === 'function';
}

export type TaskFunction = (stage: StageExecution, context: TaskContext) => TaskResult | Promise<TaskResult>;
export type TaskClass = new () => Task;
