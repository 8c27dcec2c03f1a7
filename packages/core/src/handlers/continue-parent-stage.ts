import { Messages, type ContinueParentStage } from '../messages/messages.js';
import { isActive, isContinuable, isHalt, WorkflowStatus } from '../model/status.js';
import { errorRecord, loadStageOrReport, newTx, retryOnConcurrency } from './common.js';
import { countedChildren, ON_FAILURE_STAGE_KEY } from './complete-stage.js';
import type { HandlerDeps, HandlerInput } from './deps.js';
import { startTaskInTx } from './task-flow.js';

/**
 * A chain of synthetic stages ended: once all before-stages are done the parent's tasks start;
 * once all after-stages are done the parent completes (engine.md §4.8). Each chain end sends its own
 * message, so an early one simply finds the others still active and does nothing.
 */
export async function handleContinueParentStage(deps: HandlerDeps, input: HandlerInput<ContinueParentStage>): Promise<void> {
  await retryOnConcurrency(deps, async () => {
    const parent = await loadStageOrReport(deps, input);
    if (!parent || parent.status !== WorkflowStatus.RUNNING) return;
    const children = countedChildren(parent, await deps.store.retrieveSyntheticStages(parent.id));
    const phase = input.message.phase;
    const group = children.filter((c) => c.syntheticStageOwner === phase && (phase === 'STAGE_BEFORE' || c.context[ON_FAILURE_STAGE_KEY] !== true || parent.context._on_failure_planned === true));
    const tx = newTx(input);
    const { executionId } = parent;

    if (group.some((c) => isHalt(c.status))) {
      tx.push(Messages.completeStage(executionId, parent.id));
    } else if (!group.every((c) => isContinuable(c.status))) {
      if (group.some((c) => isActive(c.status))) return; // another branch will report when it ends
      const retryCount = (input.message.retryCount ?? 0) + 1;
      if (retryCount > deps.config.maxStageWaitRetries) {
        parent.status = WorkflowStatus.TERMINAL;
        parent.endTime = deps.clock.now();
        parent.context.exception = errorRecord(`Exceeded max retries waiting for ${phase === 'STAGE_BEFORE' ? 'before' : 'after'}-stages`);
        tx.updateStage(parent, WorkflowStatus.RUNNING).push(Messages.completeStage(executionId, parent.id));
      } else {
        tx.push(Messages.continueParentStage(executionId, parent.id, phase, retryCount), deps.config.retryDelayMs);
      }
    } else if (phase === 'STAGE_BEFORE') {
      const first = parent.tasks[0];
      const after = children.filter((c) => c.syntheticStageOwner === 'STAGE_AFTER' && c.requisiteStageRefIds.length === 0 && c.status === WorkflowStatus.NOT_STARTED && c.context[ON_FAILURE_STAGE_KEY] !== true);
      if (first) {
        if (first.status !== WorkflowStatus.NOT_STARTED) return;
        tx.updateStage(parent, WorkflowStatus.RUNNING);
        await startTaskInTx(deps, tx, parent, first, 'ContinueParentStageHandler');
      } else if (after.length > 0) {
        for (const c of after) tx.push(Messages.startStage(executionId, c.id));
      } else {
        tx.push(Messages.completeStage(executionId, parent.id));
      }
    } else {
      tx.push(Messages.completeStage(executionId, parent.id));
    }
    await deps.store.commit(tx);
  });
}
