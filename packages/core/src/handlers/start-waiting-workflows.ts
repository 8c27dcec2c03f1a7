import { Messages, type StartWaitingWorkflows } from '../messages/messages.js';
import { WorkflowStatus } from '../model/status.js';
import { newTx, retryOnConcurrency } from './common.js';
import type { HandlerDeps, HandlerInput } from './deps.js';

/**
 * A workflow of a concurrency-limited pipeline finished: start as many BUFFERED runs as there are
 * free slots, oldest first (engine.md §4.2). With purging, the rest end CANCELED (decision Q13).
 */
export async function handleStartWaitingWorkflows(deps: HandlerDeps, input: HandlerInput<StartWaitingWorkflows>): Promise<void> {
  const { pipelineConfigId, purgeQueue } = input.message;
  if (!pipelineConfigId) return;
  await retryOnConcurrency(deps, async () => {
    const buffered = await deps.store.listWorkflows({ pipelineConfigId, statuses: [WorkflowStatus.BUFFERED], limit: 100 });
    if (buffered.length === 0) return;
    const running = await deps.store.countWorkflows({ pipelineConfigId, statuses: [WorkflowStatus.RUNNING] });
    const limit = buffered[0]!.maxConcurrentExecutions;
    const slots = limit <= 0 ? buffered.length : Math.max(0, limit - running);
    const tx = newTx(input);
    const now = deps.clock.now();
    buffered.forEach((workflow, i) => {
      if (i < slots) {
        tx.updateWorkflow(workflow, { status: WorkflowStatus.NOT_STARTED }, WorkflowStatus.BUFFERED);
        tx.push(Messages.startWorkflow(workflow.id));
      } else if (purgeQueue) {
        tx.updateWorkflow(
          workflow,
          { status: WorkflowStatus.CANCELED, endTime: now, isCanceled: true, canceledBy: 'system', cancellationReason: 'Queue purged by keepWaitingPipelines=false policy' },
          WorkflowStatus.BUFFERED,
        );
      }
    });
    await deps.store.commit(tx);
  });
}
