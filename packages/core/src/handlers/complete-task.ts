import { Messages, type CompleteTask } from '../messages/messages.js';
import { isFailure, WorkflowStatus } from '../model/status.js';
import { loadStageOrReport, newTx, retryOnConcurrency } from './common.js';
import { type HandlerDeps, type HandlerInput, recordEvent } from './deps.js';

/**
 * RUNNING -> the reported status, then the next task or CompleteStage (engine.md §4.6). A failed
 * task does not stop the tasks after it (decision Q2); the stage's status is decided at the end.
 */
export async function handleCompleteTask(deps: HandlerDeps, input: HandlerInput<CompleteTask>): Promise<void> {
  await retryOnConcurrency(deps, async () => {
    const stage = await loadStageOrReport(deps, input);
    if (!stage) return;
    const task = stage.taskById(input.message.taskId);
    if (!task || task.status !== WorkflowStatus.RUNNING) return; // stale: already completed, canceled or reset

    const status = input.message.status;
    task.status = status;
    task.endTime = deps.clock.now();
    const tx = newTx(input).updateStage(stage);
    if (status !== WorkflowStatus.REDIRECT) {
      const next = stage.nextTask(task);
      tx.push(next ? Messages.startTask(stage.executionId, stage.id, next.id) : Messages.completeStage(stage.executionId, stage.id));
    }
    const failed = isFailure(status);
    if (status !== WorkflowStatus.SKIPPED) {
      recordEvent(deps, tx, {
        eventType: failed ? 'task.failed' : 'task.completed',
        entityType: 'task',
        entityId: task.id,
        workflowId: stage.executionId,
        version: task.version + 1,
        data: failed
          ? { name: task.name, status, error: String(stage.context.error ?? (stage.context.exception as { details?: { error?: string } })?.details?.error ?? 'Task failed'), end_time: task.endTime }
          : { name: task.name, status, end_time: task.endTime, duration_ms: task.startTime !== null ? task.endTime - task.startTime : null, outputs: stage.outputs },
        sourceHandler: 'CompleteTaskHandler',
      });
    }
    await deps.store.commit(tx);
  });
}
