import { Messages, type CancelStage } from '../messages/messages.js';
import { isComplete, WorkflowStatus } from '../model/status.js';
import { loadStageOrReport, newTx, pushNext, recordStageEvent, retryOnConcurrency } from './common.js';
import type { HandlerDeps, HandlerInput } from './deps.js';
import { instancesOf, isMultiInstanceStage } from './multi-instance.js';
import { afterStatusChange } from './patterns.js';

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
    }
    stage.status = WorkflowStatus.CANCELED;
    stage.endTime = now;
    const { withdraw, reason } = input.message;
    if (withdraw) stage.context._withdrawn = { reason: reason || 'withdrawn' };
    if (typeof stage.context._fire_count === 'number') stage.context._fire_final = true;
    const tx = newTx(input).updateStage(stage, expected);
    if (withdraw) {
      // Withdrawn (docs/patterns.md): not a failure of the case; downstream stages lose this input.
      await pushNext(deps, tx, stage);
    } else if (stage.parentStageId !== null) tx.push(Messages.completeStage(stage.executionId, stage.parentStageId));
    else tx.push(Messages.completeWorkflow(stage.executionId));
    if (isMultiInstanceStage(stage)) {
      // WCP-26: canceling the activity cancels (or withdraws) its unfinished instances.
      for (const instance of instancesOf(await deps.store.retrieveSyntheticStages(stage.id))) {
        if (!isComplete(instance.status)) tx.push(Messages.cancelStage(stage.executionId, instance.id, { withdraw: true, reason: reason || 'multiInstanceCanceled' }));
      }
    }
    afterStatusChange(tx, stage);
    recordStageEvent(deps, tx, 'CancelStageHandler', 'stage.canceled', stage, withdraw ? { withdrawn: true, reason: reason || 'withdrawn' } : {});
    await deps.store.commit(tx);
    // Interrupt executing task bodies only once the cancellation is stored: an interrupted task that
    // returns at once must find its task CANCELED (its late result is then dropped), never win the race.
    for (const task of stage.tasks) deps.runningTasks.abort(task.id, 'Stage canceled');
  });
}
