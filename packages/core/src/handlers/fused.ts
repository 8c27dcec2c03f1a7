// Fused steps: the commit that records a stage's last task result also completes the stage and
// starts a plain successor, instead of queueing CompleteStage and StartStage messages. A stage of a
// chain then costs one message (RunTask) and one commit instead of three. Only the plain cases are
// fused; anything with synthetic stages, patterns or cleanup hooks takes the queued path, which
// stays the reference behaviour. The outcome is the same either way: the same writes, the same
// events and the same follow-up messages, committed in one transaction instead of three.
import { DISCRIMINATOR_JOINS, evaluateReadiness, isRefiringJoin } from '../dag/readiness.js';
import { determineStageStatus, JoinType, type StageExecution } from '../model/stage-execution.js';
import { isComplete, WorkflowStatus } from '../model/status.js';
import type { Workflow } from '../model/workflow.js';
import type { Transaction } from '../store/transaction.js';
import { isStageDisabled, recordStageEvent } from './common.js';
import { finishStage } from './complete-stage.js';
import type { HandlerDeps } from './deps.js';
import { isMultiInstanceStage } from './multi-instance.js';
import { claimPatterns, planStage } from './start-stage.js';

/** What a fused commit knows already: the workflow row read by the handler that started it. */
export interface FuseScope {
  workflow: Workflow;
  /** The finished stage's downstream stages, read while its synthetic stages were looked up. */
  downstream?: Promise<StageExecution[]>;
}

/** At most this many successors are started inside one commit; the others get a StartStage each (other workers share them). */
export const MAX_FUSED_STARTS = 4;

/** Whether a stage could be without synthetic stages: no builder hook plans any, no multi-instance activity. */
function mayHaveNoSyntheticStages(deps: HandlerDeps, stage: StageExecution): boolean {
  if (isMultiInstanceStage(stage)) return false;
  const builder = deps.builders.get(stage.type);
  return !builder.beforeStages && !builder.afterStages && !builder.onFailureStages;
}

function hasCleanupHook(deps: HandlerDeps, stage: StageExecution): boolean {
  for (const task of stage.tasks) {
    try {
      if (deps.registry.resolve(task.implementingClass).onCleanup) return true;
    } catch {
      // an unknown task type has no hook
    }
  }
  return false;
}

/**
 * CompleteStage in place, for a RUNNING stage whose last task just finished: returns false (and
 * changes nothing) when the stage needs the queued CompleteStage (synthetic stages, cleanup hooks,
 * a status that is not final yet).
 */
export async function completeStageInTx(deps: HandlerDeps, tx: Transaction, stage: StageExecution, scope: FuseScope): Promise<boolean> {
  if (stage.status !== WorkflowStatus.RUNNING || hasCleanupHook(deps, stage) || !mayHaveNoSyntheticStages(deps, stage)) return false;
  let status = determineStageStatus(stage, []);
  if (status === WorkflowStatus.RUNNING || !isComplete(status)) return false;
  const downstream = deps.store.retrieveDownstreamStages(stage.executionId, stage.refId);
  downstream.catch(() => undefined); // unused when the stage has synthetic stages; awaited otherwise
  // Stages created with the workflow may sit under it (the definition can nest them).
  if ((await deps.store.retrieveSyntheticStages(stage.id)).length > 0) return false;
  if (status === WorkflowStatus.FAILED_CONTINUE && stage.context._blocking_failure === true) status = WorkflowStatus.TERMINAL; // Q7
  stage.status = status;
  stage.endTime = deps.clock.now();
  tx.updateStage(stage, WorkflowStatus.RUNNING);
  await finishStage(deps, tx, stage, 'CompleteStageHandler', { ...scope, downstream });
  return true;
}

/**
 * Whether `next`, a downstream of `upstream` (which has just finished in this transaction), is a
 * plain single-requisite stage that is ready now and may be started in place. Its synthetic stages
 * are checked by the caller (one read for all candidates).
 */
export function mayStartInTx(deps: HandlerDeps, next: StageExecution, upstream: StageExecution, scope: FuseScope): boolean {
  const { workflow } = scope;
  if (isComplete(workflow.status) || workflow.isCanceled || workflow.status === WorkflowStatus.PAUSED) return false;
  if (next.status !== WorkflowStatus.NOT_STARTED || next.parentStageId !== upstream.parentStageId) return false;
  if (next.requisiteStageRefIds.length !== 1 || next.requisiteStageRefIds[0] !== upstream.refId) return false;
  if (next.joinType !== JoinType.AND || isRefiringJoin(next.joinType) || DISCRIMINATOR_JOINS.has(next.joinType)) return false;
  if (next.mutexKey || next.deferredChoiceGroup || next.milestoneRefId || next.context._jump_bypass !== undefined) return false;
  if (next.startTimeExpiry !== null || !mayHaveNoSyntheticStages(deps, next)) return false;
  return evaluateReadiness(next, [upstream]).phase === 'READY' && !isStageDisabled(next, [upstream]);
}

/** Of `candidates`, the ones without synthetic stages (their lookups run concurrently). */
export async function withoutSyntheticStages(deps: HandlerDeps, candidates: StageExecution[]): Promise<Set<string>> {
  const children = await Promise.all(candidates.map((c) => deps.store.retrieveSyntheticStages(c.id)));
  return new Set(candidates.filter((_, i) => children[i]!.length === 0).map((c) => c.id));
}

/**
 * StartStage in place for a stage that passed `mayStartInTx` and has no synthetic stages. Returns
 * false (and changes nothing) when planning throws; the caller then queues its StartStage.
 */
export async function startSuccessorInTx(deps: HandlerDeps, tx: Transaction, next: StageExecution, upstream: StageExecution): Promise<boolean> {
  const upstreams = [upstream];
  // Planning runs builder code that may throw: undo what it added and leave the stage to StartStage.
  const marks = { messages: tx.messages.length, events: tx.events.length, inserts: tx.stageInserts.length };
  const pristine = next.clone();
  try {
    next.startTime = deps.clock.now();
    next.status = WorkflowStatus.RUNNING;
    next.endTime = null;
    await claimPatterns(deps, tx, next);
    await planStage(deps, tx, next, upstreams, []);
  } catch (error) {
    tx.messages.length = marks.messages;
    tx.events.length = marks.events;
    tx.stageInserts.length = marks.inserts;
    Object.assign(next, pristine);
    deps.logger.debug('Fused start fell back to StartStage', { stageId: next.id, error: String(error) });
    return false;
  }
  tx.updateStage(next, WorkflowStatus.NOT_STARTED);
  recordStageEvent(deps, tx, 'StartStageHandler', 'stage.started', next, {
    start_time: next.startTime,
    is_synthetic: next.parentStageId !== null,
    parent_stage_id: next.parentStageId,
    task_count: next.tasks.length,
  });
  return true;
}
