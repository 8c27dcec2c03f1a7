import { Messages, type StartWorkflow } from '../messages/messages.js';
import { WorkflowStatus } from '../model/status.js';
import { loadWorkflowOrReport, newTx, retryOnConcurrency } from './common.js';
import { type HandlerDeps, type HandlerInput, recordEvent } from './deps.js';
import { FusedReads, MAX_FUSED_STARTS, mayStartInTx, startSuccessorInTx } from './fused.js';

/** NOT_STARTED -> RUNNING, then StartStage for every initial stage (engine.md §4.1). */
export async function handleStartWorkflow(deps: HandlerDeps, input: HandlerInput<StartWorkflow>): Promise<void> {
  await retryOnConcurrency(deps, async () => {
    const workflow = await loadWorkflowOrReport(deps, input);
    if (!workflow || workflow.status !== WorkflowStatus.NOT_STARTED) return;
    const now = deps.clock.now();
    const tx = newTx(input);

    if (workflow.isCanceled) {
      // Decision Q14: a workflow canceled before it started ends CANCELED right away.
      tx.updateWorkflow(workflow, { status: WorkflowStatus.CANCELED, endTime: now }, WorkflowStatus.NOT_STARTED);
      await deps.store.commit(tx);
      return;
    }
    if (workflow.startTimeExpiry !== null && now > workflow.startTimeExpiry) {
      tx.push(Messages.cancelWorkflow(workflow.id, 'system', 'Could not begin execution before start time expiry'));
      await deps.store.commit(tx);
      return;
    }
    if (workflow.isLimitConcurrent && workflow.pipelineConfigId && workflow.maxConcurrentExecutions > 0) {
      const running = await deps.store.countWorkflows({ pipelineConfigId: workflow.pipelineConfigId, statuses: [WorkflowStatus.RUNNING] });
      if (running >= workflow.maxConcurrentExecutions) {
        tx.updateWorkflow(workflow, { status: WorkflowStatus.BUFFERED }, WorkflowStatus.NOT_STARTED);
        await deps.store.commit(tx);
        return;
      }
    }
    const stages = await deps.store.retrieveStageSummaries(workflow.id);
    const initial = stages.filter((s) => s.parentStageId === null && s.requisiteStageRefIds.length === 0);
    if (initial.length === 0) {
      tx.updateWorkflow(workflow, { status: WorkflowStatus.TERMINAL, endTime: now }, WorkflowStatus.NOT_STARTED);
      await deps.store.commit(tx);
      return;
    }
    tx.updateWorkflow(workflow, { status: WorkflowStatus.RUNNING, startTime: now }, WorkflowStatus.NOT_STARTED);
    recordEvent(deps, tx, {
      eventType: 'workflow.started',
      entityType: 'workflow',
      entityId: workflow.id,
      workflowId: workflow.id,
      version: 2,
      data: { start_time: now, initial_stage_ids: initial.map((s) => s.id), context: workflow.context, application: workflow.application, name: workflow.name, stage_count: stages.length },
      sourceHandler: 'StartWorkflowHandler',
    });
    // A few plain initial stages start in this commit (fused.ts); the others get a StartStage each.
    const scope = { workflow, reads: new FusedReads(deps) };
    const parents = new Set(stages.flatMap((s) => (s.parentStageId === null ? [] : [s.parentStageId]))); // stages with synthetic stages
    scope.reads.rememberChildless(stages.map((s) => s.id).filter((id) => !parents.has(id)));
    const candidates = initial.length <= MAX_FUSED_STARTS ? await deps.store.retrieveStagesByRefIds(workflow.id, initial.map((s) => s.refId)) : [];
    const started = new Set<string>();
    for (const stage of candidates) {
      if (stage.parentStageId === null && !parents.has(stage.id) && mayStartInTx(deps, stage, null, scope) && (await startSuccessorInTx(deps, tx, stage, null))) started.add(stage.id);
    }
    for (const stage of initial) if (!started.has(stage.id)) tx.push(Messages.startStage(workflow.id, stage.id));
    await deps.store.commit(tx);
  });
}
