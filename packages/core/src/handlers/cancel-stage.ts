import { Messages, type CancelStage } from '../messages/messages.js';
import { isComplete, WorkflowStatus } from '../model/status.js';
import { loadStageOrReport, newTx, recordStageEvent, retryOnConcurrency } from './common.js';
import type { HandlerDeps, HandlerInput } from './deps.js';

/**
 * Cancels one stage and its unfinished tasks; a task executing in this process is signalled through
 * its AbortSignal. The stage's end is announced (CompleteWorkflow / parent CompleteStage) so the
 * workflow's completion never waits on a timer. Engine.md §4.10.
 */
export async function handleCancelStage(deps: HandlerDeps, input: HandlerInput<CancelStage>): Promise<void> {
  await retryOnConcurrency(deps, async () => {
    const stage = await loadStageOrReport(deps, input);
    if (!stage || isComplete(stage.status)) return;
    const expected = stage.status;
    const now = deps.clock.now();
    for (const task of stage.tasks) {
      if (task.status === WorkflowStatus.NOT_STARTED || task.status === WorkflowStatus.RUNNING || task.status === WorkflowStatus.PAUSED || task.status === WorkflowStatus.SUSPENDED || task.status === WorkflowStatus.REDIRECT) {
        task.status = WorkflowStatus.CANCELED;
        task.endTime = now;
      }
      deps.runningTasks.abort(task.id, 'Stage canceled');
    }
    stage.status = WorkflowStatus.CANCELED;
    stage.endTime = now;
    const tx = newTx(input).updateStage(stage, expected);
    if (stage.parentStageId !== null) tx.push(Messages.completeStage(stage.executionId, stage.parentStageId));
    else tx.push(Messages.completeWorkflow(stage.executionId));
    recordStageEvent(deps, tx, 'CancelStageHandler', 'stage.canceled', stage, {});
    await deps.store.commit(tx);
  });
}
