import { Messages, type CancelRegion } from '../messages/messages.js';
import { isComplete } from '../model/status.js';
import { loadWorkflowOrReport, newTx } from './common.js';
import type { HandlerDeps, HandlerInput } from './deps.js';

/**
 * WCP-25: withdraws every unfinished stage tagged with `cancelRegion == region`, in one transaction.
 * Withdrawn stages end CANCELED with `_withdrawn` and do not cancel the case: the rest of the workflow
 * runs on, and stages that only depended on the region are skipped as dead paths. An empty region
 * name is ignored. (Reads the whole workflow once: an operator action, not a hot path.)
 */
export async function handleCancelRegion(deps: HandlerDeps, input: HandlerInput<CancelRegion>): Promise<void> {
  const workflow = await loadWorkflowOrReport(deps, input);
  if (!workflow) return;
  const region = input.message.region;
  const tx = newTx(input);
  if (region && !isComplete(workflow.status)) {
    const full = await deps.store.retrieve(workflow.id);
    for (const stage of full.stages) {
      if (stage.cancelRegion === region && !isComplete(stage.status)) tx.push(Messages.cancelStage(workflow.id, stage.id, { withdraw: true, reason: `cancelRegion:${region}` }));
    }
  } else if (!region) {
    deps.logger.warn('CancelRegion without a region name ignored', { executionId: workflow.id });
  }
  await deps.store.commit(tx);
}
