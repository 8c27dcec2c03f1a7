import type { TerminateWorkflow } from '../messages/messages.js';
import { newTx, retryOnConcurrency } from './common.js';
import type { HandlerDeps, HandlerInput } from './deps.js';
import { terminateWorkflowInTx } from './patterns.js';

/**
 * WCP-43: ends the workflow at once with `status` (default SUCCEEDED) and withdraws every unfinished
 * stage, whatever else is still running. A finished workflow is left as it is.
 */
export async function handleTerminateWorkflow(deps: HandlerDeps, input: HandlerInput<TerminateWorkflow>): Promise<void> {
  await retryOnConcurrency(deps, async () => {
    const { executionId, status, reason, stageId } = input.message;
    const tx = newTx(input);
    await terminateWorkflowInTx(deps, tx, executionId, { handler: 'TerminateWorkflowHandler', ...(status ? { status } : {}), ...(reason ? { reason } : {}), ...(stageId ? { stageId } : {}) });
    await deps.store.commit(tx);
  });
}
