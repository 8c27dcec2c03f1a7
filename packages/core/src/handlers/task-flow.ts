// The two task transitions several handlers perform inside their own transaction: starting a task
// (StartTask, and directly from a finished task or a planned stage) and completing one (CompleteTask,
// and directly from RunTask). Doing them in place saves a queued message and a commit per step.
import { Messages } from '../messages/messages.js';
import type { StageExecution } from '../model/stage-execution.js';
import { isFailure, WorkflowStatus } from '../model/status.js';
import type { TaskExecution } from '../model/task-execution.js';
import type { Transaction } from '../store/transaction.js';
import { isSkippableTask } from '../task/task.js';
import { type HandlerDeps, recordEvent } from './deps.js';
import { completeStageInTx, type FusedReads } from './fused.js';

/** NOT_STARTED -> RUNNING and queue its RunTask (or its skip, for a disabled SkippableTask, Q3). */
export async function startTaskInTx(deps: HandlerDeps, tx: Transaction, stage: StageExecution, task: TaskExecution, handler: string): Promise<void> {
  task.status = WorkflowStatus.RUNNING;
  task.startTime = deps.clock.now();
  let skip = false;
  try {
    const implementation = deps.registry.resolve(task.implementingClass);
    skip = isSkippableTask(implementation) && !(await implementation.isEnabled(stage));
  } catch {
    // An unknown task type is reported by RunTask, with the error recorded on the stage.
  }
  tx.push(
    skip ? Messages.completeTask(stage.executionId, stage.id, task.id, WorkflowStatus.SKIPPED) : Messages.runTask(stage.executionId, stage.id, task.id, task.implementingClass),
  );
  recordEvent(deps, tx, {
    eventType: 'task.started',
    entityType: 'task',
    entityId: task.id,
    workflowId: stage.executionId,
    version: task.version + 1,
    data: { name: task.name, implementing_class: task.implementingClass, start_time: task.startTime, stage_id: stage.id },
    sourceHandler: handler,
  });
}

/**
 * RUNNING -> `status`, then the next task starts or the stage completes (engine.md §4.6). A failed
 * task does not stop the tasks after it (Q2). A REDIRECT task waits for its jump.
 */
export async function completeTaskInTx(
  deps: HandlerDeps,
  tx: Transaction,
  stage: StageExecution,
  task: TaskExecution,
  status: WorkflowStatus,
  handler: string,
  fused?: FusedReads,
): Promise<void> {
  task.status = status;
  task.endTime = deps.clock.now();
  if (status !== WorkflowStatus.SKIPPED) {
    const failed = isFailure(status);
    const exception = (stage.context.exception as { details?: { error?: string } } | undefined)?.details?.error;
    recordEvent(deps, tx, {
      eventType: failed ? 'task.failed' : 'task.completed',
      entityType: 'task',
      entityId: task.id,
      workflowId: stage.executionId,
      version: task.version + 1,
      data: failed
        ? { name: task.name, status, error: String(exception ?? stage.context.error ?? 'Task failed'), end_time: task.endTime }
        : { name: task.name, status, end_time: task.endTime, duration_ms: task.startTime !== null ? task.endTime - task.startTime : null, outputs: stage.outputs },
      sourceHandler: handler,
    });
  }
  if (status === WorkflowStatus.REDIRECT) return;
  const next = stage.nextTask(task);
  if (next) await startTaskInTx(deps, tx, stage, next, handler);
  else if (!fused || !(await completeStageInTx(deps, tx, stage, fused))) tx.push(Messages.completeStage(stage.executionId, stage.id));
}
