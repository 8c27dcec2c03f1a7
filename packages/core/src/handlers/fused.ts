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
import type { StageSummary } from '../store/interfaces.js';
import type { Transaction } from '../store/transaction.js';
import { endWorkflowInTx, finalStatus } from './complete-workflow.js';
import { isStageDisabled, recordStageStarted } from './common.js';
import { finishStage } from './complete-stage.js';
import type { HandlerDeps } from './deps.js';
import { isMultiInstanceStage } from './multi-instance.js';
import { claimPatterns, planStage } from './start-stage.js';

/**
 * The reads a fused commit needs, memoized, so a handler can start them early and concurrently (on
 * a network store each is a round trip): RunTask starts them before its task body runs.
 */
export class FusedReads {
  private readonly synthetic = new Map<string, Promise<StageExecution[]>>();
  private readonly downstream = new Map<string, Promise<StageExecution[]>>();
  private readonly childless: BoundedSet;

  constructor(private readonly deps: HandlerDeps) {
    this.childless = childlessStages(deps);
  }

  private parents: Promise<Set<string>> | null = null;

  /** Ids of the stages of `executionId` that have synthetic stages (one read of its summaries). */
  parentsOfSyntheticStages(executionId: string): Promise<Set<string>> {
    if (!this.parents) {
      this.parents = this.deps.store.retrieveStageSummaries(executionId).then((all) => {
        const parents = new Set(all.flatMap((s) => (s.parentStageId === null ? [] : [s.parentStageId])));
        this.rememberChildless(all.map((s) => s.id).filter((id) => !parents.has(id)));
        return parents;
      });
      this.parents.catch(() => undefined);
    }
    return this.parents;
  }

  /**
   * Notes stages that were created without synthetic stages. Such a stage never gets any unless a
   * builder hook plans them or it is a multi-instance activity, and every use of this knowledge
   * checks those first (`mayHaveNoSyntheticStages`), so it stays true for the workflow's life.
   */
  rememberChildless(stageIds: readonly string[]): void {
    for (const id of stageIds) this.childless.add(id);
  }

  syntheticStages(stageId: string): Promise<StageExecution[]> {
    if (this.childless.has(stageId)) return NONE;
    return memo(this.synthetic, stageId, () =>
      this.deps.store.retrieveSyntheticStages(stageId).then((children) => {
        if (children.length === 0) this.childless.add(stageId);
        return children;
      }),
    );
  }

  downstreamStages(stage: StageExecution): Promise<StageExecution[]> {
    return memo(this.downstream, stage.id, () => this.deps.store.retrieveDownstreamStages(stage.executionId, stage.refId));
  }

  /**
   * Starts, before a stage's last task runs, the one read of a fused completion that cannot go
   * stale: its synthetic stages (fixed at creation for the stages fused at all). What can change
   * while the task runs (the downstream stages, the workflow row) is read when the result commits.
   */
  prefetchCompletion(stage: StageExecution): void {
    if (!mayHaveNoSyntheticStages(this.deps, stage) || hasCleanupHook(this.deps, stage)) return;
    void this.syntheticStages(stage.id);
  }

  /** The downstream stages, then (concurrently) the synthetic-stage lookups a fused start of them needs. */
  private prefetchSuccessors(stage: StageExecution): void {
    void this.downstreamStages(stage).then(
      (downstream) => {
        const candidates = downstream.filter((d) => d.status === WorkflowStatus.NOT_STARTED && d.requisiteStageRefIds.length === 1 && mayHaveNoSyntheticStages(this.deps, d));
        if (candidates.length > FEW_FUSED_STARTS) void this.parentsOfSyntheticStages(stage.executionId);
        else for (const d of candidates) void this.syntheticStages(d.id);
      },
      () => undefined,
    );
  }

  /** At commit time: the fresh workflow row, read alongside the downstream stages. */
  async completionReads(stage: StageExecution): Promise<Workflow> {
    this.prefetchSuccessors(stage);
    return this.deps.store.retrieveWorkflowOnly(stage.executionId);
  }
}

const NONE: Promise<StageExecution[]> = Promise.resolve([]);

/** A set that forgets its oldest entries beyond `limit` (insertion order). */
class BoundedSet {
  private readonly items = new Set<string>();
  constructor(private readonly limit: number) {}
  has(id: string): boolean {
    return this.items.has(id);
  }
  add(id: string): void {
    if (this.items.has(id)) return;
    this.items.add(id);
    if (this.items.size > this.limit) for (const oldest of this.items) if (this.items.delete(oldest) && this.items.size <= this.limit) break;
  }
}

/** Per processor (its handler deps): stages known to have been created without synthetic stages. */
const CHILDLESS = new WeakMap<HandlerDeps, BoundedSet>();
function childlessStages(deps: HandlerDeps): BoundedSet {
  let set = CHILDLESS.get(deps);
  if (!set) CHILDLESS.set(deps, (set = new BoundedSet(100_000)));
  return set;
}

function memo(cache: Map<string, Promise<StageExecution[]>>, key: string, read: () => Promise<StageExecution[]>): Promise<StageExecution[]> {
  let pending = cache.get(key);
  if (!pending) {
    pending = read();
    pending.catch(() => undefined); // a prefetch nobody awaits must not become an unhandled rejection
    cache.set(key, pending);
  }
  return pending;
}

/** What a fused commit decides on: the workflow row read for it (fresh) and the memoized reads. */
export interface FuseScope {
  workflow: Workflow;
  reads: FusedReads;
}

/**
 * At most this many successors are started inside one commit (a fan-out's branches, in one batch);
 * any others get a StartStage each. Up to FEW_FUSED_STARTS, their synthetic stages are looked up one
 * by one; beyond, with one read of the workflow's stage summaries.
 */
export const MAX_FUSED_STARTS = 256;
const FEW_FUSED_STARTS = 4;

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
export async function completeStageInTx(deps: HandlerDeps, tx: Transaction, stage: StageExecution, reads: FusedReads): Promise<boolean> {
  if (stage.status !== WorkflowStatus.RUNNING || hasCleanupHook(deps, stage) || !mayHaveNoSyntheticStages(deps, stage)) return false;
  let status = determineStageStatus(stage, []);
  if (status === WorkflowStatus.RUNNING || !isComplete(status)) return false;
  // Stages created with the workflow may sit under it (the definition can nest them).
  if ((await reads.syntheticStages(stage.id)).length > 0) return false;
  // Read now, not before the task ran: a join below may have fired meanwhile, the workflow may have
  // been canceled or paused. Both reads run concurrently.
  const scope: FuseScope = { workflow: await reads.completionReads(stage), reads };
  if (status === WorkflowStatus.FAILED_CONTINUE && stage.context._blocking_failure === true) status = WorkflowStatus.TERMINAL; // Q7
  stage.status = status;
  stage.endTime = deps.clock.now();
  tx.updateStage(stage, WorkflowStatus.RUNNING);
  await finishStage(deps, tx, stage, 'CompleteStageHandler', scope);
  return true;
}

/**
 * Whether `next`, a downstream of `upstream` (which has just finished in this transaction), is a
 * plain single-requisite stage that is ready now and may be started in place. Its synthetic stages
 * are checked by the caller (one read for all candidates).
 */
export function mayStartInTx(deps: HandlerDeps, next: StageExecution, upstream: StageExecution | null, scope: FuseScope): boolean {
  const { workflow } = scope;
  if (isComplete(workflow.status) || workflow.isCanceled || workflow.status === WorkflowStatus.PAUSED) return false;
  if (next.status !== WorkflowStatus.NOT_STARTED) return false;
  if (upstream === null) {
    if (next.parentStageId !== null || next.requisiteStageRefIds.length !== 0) return false; // an initial stage
  } else if (next.parentStageId !== upstream.parentStageId || next.requisiteStageRefIds.length !== 1 || next.requisiteStageRefIds[0] !== upstream.refId) {
    return false;
  }
  if (next.joinType !== JoinType.AND || isRefiringJoin(next.joinType) || DISCRIMINATOR_JOINS.has(next.joinType)) return false;
  if (next.mutexKey || next.deferredChoiceGroup || next.milestoneRefId || next.context._jump_bypass !== undefined) return false;
  if (next.startTimeExpiry !== null || !mayHaveNoSyntheticStages(deps, next)) return false;
  const upstreams = upstream ? [upstream] : [];
  return evaluateReadiness(next, upstreams).phase === 'READY' && !isStageDisabled(next, upstreams);
}

/** Of `candidates`, the ones without synthetic stages (their lookups run concurrently). */
export async function withoutSyntheticStages(reads: FusedReads, candidates: StageExecution[]): Promise<Set<string>> {
  if (candidates.length > FEW_FUSED_STARTS) {
    const parents = await reads.parentsOfSyntheticStages(candidates[0]!.executionId);
    return new Set(candidates.filter((c) => !parents.has(c.id)).map((c) => c.id));
  }
  const children = await Promise.all(candidates.map((c) => reads.syntheticStages(c.id)));
  return new Set(candidates.filter((_, i) => children[i]!.length === 0).map((c) => c.id));
}

/**
 * StartStage in place for a stage that passed `mayStartInTx` and has no synthetic stages. Returns
 * false (and changes nothing) when planning throws; the caller then queues its StartStage.
 */
export async function startSuccessorInTx(deps: HandlerDeps, tx: Transaction, next: StageExecution, upstream: StageExecution | null): Promise<boolean> {
  const upstreams = upstream ? [upstream] : [];
  // Planning runs builder code that may throw: undo what it added and leave the stage to StartStage.
  const marks = { messages: tx.messages.length, events: tx.events.length, inserts: tx.stageInserts.length };
  const pristine = next.clone();
  let firstPlanningEvent = tx.events.length;
  try {
    next.startTime = deps.clock.now();
    next.status = WorkflowStatus.RUNNING;
    next.endTime = null;
    await claimPatterns(deps, tx, next);
    firstPlanningEvent = tx.events.length;
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
  recordStageStarted(deps, tx, 'StartStageHandler', next, firstPlanningEvent);
  return true;
}

/**
 * CompleteWorkflow in place, after the last top-level stage finished in this transaction: only the
 * plain success (every top-level stage ended well); any other outcome takes the queued path. The
 * status write is compare-and-set, so a concurrent end of the same workflow wins cleanly.
 */
export async function completeWorkflowInTx(deps: HandlerDeps, tx: Transaction, scope: FuseScope): Promise<boolean> {
  const { workflow } = scope;
  if (workflow.status !== WorkflowStatus.RUNNING || workflow.isCanceled) return false;
  // The stored summaries, with this transaction's own stage writes laid over them.
  const byId = new Map<string, StageSummary>((await deps.store.retrieveStageSummaries(workflow.id)).map((s) => [s.id, s]));
  for (const { stage } of tx.stageUpdates) if (stage.executionId === workflow.id) byId.set(stage.id, stage);
  for (const stage of tx.stageInserts) if (stage.executionId === workflow.id) byId.set(stage.id, stage);
  const all = [...byId.values()];
  if (finalStatus(all.filter((s) => s.parentStageId === null), all) !== WorkflowStatus.SUCCEEDED) return false;
  const now = deps.clock.now();
  tx.updateWorkflow(workflow, { status: WorkflowStatus.SUCCEEDED, endTime: now }, WorkflowStatus.RUNNING);
  endWorkflowInTx(deps, tx, workflow, WorkflowStatus.SUCCEEDED, now, 'CompleteWorkflowHandler', {});
  return true;
}
