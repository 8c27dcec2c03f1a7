import { Messages, type CancelWorkflow } from '../messages/messages.js';
import { isComplete, WorkflowStatus } from '../model/status.js';
import { loadWorkflowOrReport, newTx, retryOnConcurrency } from './common.js';
import type { HandlerDeps, HandlerInput } from './deps.js';

/** Flags the workflow canceled and cancels every unfinished top-level stage (engine.md §4.12). */
export async function handleCancelWorkflow(deps: HandlerDeps, input: HandlerInput<CancelWorkflow>): Promise<void> {
  await retryOnConcurrency(deps, async () => {
    const workflow = await loadWorkflowOrReport(deps, input);
    if (!workflow || isComplete(workflow.status)) return;
    const stages = (await deps.store.retrieveStageSummaries(workflow.id)).filter((s) => s.parentStageId === null);
    const tx = newTx(input).updateWorkflow(workflow, {
      isCanceled: true,
      canceledBy: input.message.user || 'unknown',
      cancellationReason: input.message.reason || '',
    });
    const open = stages.filter((s) => !isComplete(s.status));
    for (const s of open) tx.push(Messages.cancelStage(workflow.id, s.id));
    if (open.length === 0 || workflow.status === WorkflowStatus.NOT_STARTED || workflow.status === WorkflowStatus.BUFFERED) tx.push(Messages.completeWorkflow(workflow.id));
    await deps.store.commit(tx);
  });
}
