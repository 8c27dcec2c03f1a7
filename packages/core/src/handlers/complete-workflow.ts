import { Messages, type CompleteWorkflow } from '../messages/messages.js';
import { isComplete, isContinuable, WorkflowStatus } from '../model/status.js';
import type { StageSummary } from '../store/interfaces.js';
import { isWithdrawn, mayFireAgain } from '../dag/readiness.js';
import type { Workflow } from '../model/workflow.js';
import type { Transaction } from '../store/transaction.js';
import { loadWorkflowOrReport, newTx, retryOnConcurrency } from './common.js';
import { type HandlerDeps, type HandlerInput, recordEvent } from './deps.js';
import { isInstance } from './multi-instance.js';

/**
 * Decides the workflow's final status from its top-level stages (engine.md §4.11). While any branch
 * is still in progress it does nothing: the branch reports again when it ends (decision Q12).
 */
export async function handleCompleteWorkflow(deps: HandlerDeps, input: HandlerInput<CompleteWorkflow>): Promise<void> {
  await retryOnConcurrency(deps, async () => {
    const workflow = await loadWorkflowOrReport(deps, input);
    if (!workflow || isComplete(workflow.status)) return;
    const all = await deps.store.retrieveStageSummaries(workflow.id);
    const stages = all.filter((s) => s.parentStageId === null);
    const status = finalStatus(stages, all);
    if (status === null) return;

    const now = deps.clock.now();
    const tx = newTx(input).updateWorkflow(workflow, { status, endTime: now }, workflow.status);
    if (status !== WorkflowStatus.SUCCEEDED) {
      for (const s of stages) {
        if (s.status === WorkflowStatus.RUNNING || s.status === WorkflowStatus.PAUSED || s.status === WorkflowStatus.SUSPENDED) tx.push(Messages.cancelStage(workflow.id, s.id));
      }
    }
    endWorkflowInTx(deps, tx, workflow, status, now, 'CompleteWorkflowHandler', {
      ...(status === WorkflowStatus.CANCELED ? { canceled_by: workflow.canceledBy, reason: workflow.cancellationReason } : {}),
      ...(status !== WorkflowStatus.SUCCEEDED && status !== WorkflowStatus.CANCELED ? { error: `Workflow ended with status ${status}` } : {}),
    });
    await deps.store.commit(tx);
  });
}

/** The final status, or null while some branch can still make progress. */
export function finalStatus(stages: readonly StageSummary[], all: readonly StageSummary[] = stages): WorkflowStatus | null {
  // Patterns (docs/patterns.md): a withdrawn stage is ended work, not a cancellation of the case; a
  // re-firing join that may fire again and an instance outliving its multi-instance join are work left.
  const ended = (s: StageSummary) => (isContinuable(s.status) && !mayFireAgain(s)) || isWithdrawn(s);
  if (stages.every(ended)) return all.some((s) => isInstance(s) && !isComplete(s.status)) ? null : WorkflowStatus.SUCCEEDED;
  if (stages.some((s) => s.status === WorkflowStatus.TERMINAL)) return WorkflowStatus.TERMINAL;
  if (stages.some((s) => s.status === WorkflowStatus.CANCELED && !isWithdrawn(s))) return WorkflowStatus.CANCELED;
  if (stages.some((s) => inProgress(s, stages))) return null;
  if (stages.some((s) => s.status === WorkflowStatus.STOPPED)) {
    return stages.some((s) => s.status === WorkflowStatus.STOPPED && s.context.completeOtherBranchesThenFail === true) ? WorkflowStatus.TERMINAL : WorkflowStatus.SUCCEEDED;
  }
  return null;
}

/** Started and unfinished, or not started while every upstream is done (its StartStage is on its way). */
function inProgress(stage: StageSummary, all: readonly StageSummary[]): boolean {
  if (stage.status === WorkflowStatus.RUNNING || stage.status === WorkflowStatus.PAUSED || stage.status === WorkflowStatus.SUSPENDED || stage.status === WorkflowStatus.REDIRECT || stage.status === WorkflowStatus.BUFFERED) return true;
  if (mayFireAgain(stage)) return true;
  if (stage.status !== WorkflowStatus.NOT_STARTED) return false;
  return stage.requisiteStageRefIds.every((ref) => {
    const upstream = all.find((s) => s.refId === ref);
    return upstream !== undefined && isContinuable(upstream.status);
  });
}

/**
 * What every end of a workflow owes besides its status write: buffered runs of a limited pipeline
 * get their chance, and the end is recorded as `workflow.completed`, `.canceled` or `.failed`.
 */
export function endWorkflowInTx(
  deps: HandlerDeps,
  tx: Transaction,
  workflow: Workflow,
  status: WorkflowStatus,
  now: number,
  handler: string,
  data: Record<string, unknown>,
): void {
  if (workflow.pipelineConfigId) {
    tx.push({ type: 'StartWaitingWorkflows', pipelineConfigId: workflow.pipelineConfigId, purgeQueue: !workflow.keepWaitingPipelines });
  }
  const eventType = status === WorkflowStatus.SUCCEEDED ? 'workflow.completed' : status === WorkflowStatus.CANCELED ? 'workflow.canceled' : 'workflow.failed';
  recordEvent(deps, tx, {
    eventType,
    entityType: 'workflow',
    entityId: workflow.id,
    workflowId: workflow.id,
    version: 3,
    data: { status, end_time: now, duration_ms: workflow.startTime !== null ? now - workflow.startTime : null, ...data },
    sourceHandler: handler,
  });
}
