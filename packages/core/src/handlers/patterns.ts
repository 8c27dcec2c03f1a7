// Control-flow pattern mechanics shared by the stage handlers (docs/patterns.md): mutex claims and
// their wake-ups, milestone watchers, split bookkeeping for OR-joins, discriminator bookkeeping,
// withdrawal of the stages that only feed a branch, explicit termination.
import { evaluateReadiness, isRefiringJoin } from '../dag/readiness.js';
import { Messages } from '../messages/messages.js';
import type { StageExecution } from '../model/stage-execution.js';
import { isComplete, WorkflowStatus } from '../model/status.js';
import type { StageSummary } from '../store/interfaces.js';
import type { Transaction } from '../store/transaction.js';
import { endWorkflowInTx } from './complete-workflow.js';
import type { HandlerDeps } from './deps.js';

/**
 * Mutex claims are store-wide: a `mutexKey` excludes every stage with that key in every workflow of
 * the store (WCP-17/39/40). Their claim rows use this scope instead of a workflow id.
 */
export const MUTEX_SCOPE = '*';
export const mutexClaimKey = (key: string): string => `mutex:${key}`;
/** Deferred-choice claims are per workflow (WCP-16). */
export const choiceClaimKey = (group: string): string => `choice:${group}`;

/** The reserved context keys written by the pattern mechanics (kept in one place for docs and resets). */
export const PatternKeys = {
  /** On a split stage: its direct downstream ref ids that the split did not choose. */
  unchosenBranches: '_unchosen_branches',
  /** On an OR-join: the upstream ref ids it still waits for (written by upstream OR/XOR splits). */
  activatedBranches: '_activated_branches',
  /** On a stage skipped by dead-path elimination. */
  deadPath: '_dead_path',
  /** On a withdrawn (CANCELED) stage: `{ reason }`. */
  withdrawn: '_withdrawn',
  /** On a milestone stage: ids of stages waiting for it to reach a status. */
  milestoneWatchers: '_milestone_watchers',
  /** On a re-firing join: firings so far, whether it can fire again, and a version bump from late arrivals. */
  fireCount: '_fire_count',
  fireFinal: '_fire_final',
  firePoke: '_fire_poke',
} as const;

/** A stage that reached a final status (or was withdrawn) gives its mutex up and wakes the waiters. */
export function releaseStageClaims(tx: Transaction, stage: StageExecution): void {
  if (stage.mutexKey && isComplete(stage.status)) tx.releaseClaim({ executionId: MUTEX_SCOPE, claimKey: mutexClaimKey(stage.mutexKey), stageId: stage.id });
}

/** Stages gated on `stage` as their milestone re-check whenever its status changes (WCP-18). */
export function notifyMilestoneWatchers(tx: Transaction, stage: StageExecution): void {
  const watchers = stage.context[PatternKeys.milestoneWatchers];
  if (!Array.isArray(watchers)) return;
  for (const id of watchers) if (typeof id === 'string') tx.push(Messages.startStage(stage.executionId, id));
}

/** Everything a status change of `stage` owes to other stages: mutex release, milestone re-checks. */
export function afterStatusChange(tx: Transaction, stage: StageExecution): void {
  releaseStageClaims(tx, stage);
  notifyMilestoneWatchers(tx, stage);
}

export type MilestoneDecision = { decision: 'start' } | { decision: 'skip'; reason: string } | { decision: 'wait'; milestone: StageExecution };

/**
 * WCP-18: the gated stage may start while its milestone stage is in `milestoneStatus`; it waits while
 * the milestone has not reached it yet, and is skipped once the milestone has passed it (finished in
 * another status) or does not exist.
 */
export async function milestoneDecision(deps: HandlerDeps, stage: StageExecution): Promise<MilestoneDecision> {
  if (!stage.milestoneRefId || !stage.milestoneStatus) return { decision: 'start' };
  const candidates = await deps.store.retrieveStagesByRefIds(stage.executionId, [stage.milestoneRefId]);
  const milestone = candidates.find((s) => s.parentStageId === stage.parentStageId) ?? candidates[0];
  if (!milestone) return { decision: 'skip', reason: `Milestone stage '${stage.milestoneRefId}' not found` };
  if (milestone.status === stage.milestoneStatus) return { decision: 'start' };
  if (isComplete(milestone.status)) return { decision: 'skip', reason: `Milestone '${stage.milestoneRefId}' passed (${milestone.status})` };
  return { decision: 'wait', milestone };
}

/** Registers `stage` as a watcher of `milestone` (a version-checked write, so no change is missed). */
export function watchMilestone(tx: Transaction, milestone: StageExecution, stage: StageExecution): void {
  const watchers = Array.isArray(milestone.context[PatternKeys.milestoneWatchers]) ? [...(milestone.context[PatternKeys.milestoneWatchers] as string[])] : [];
  if (!watchers.includes(stage.id)) watchers.push(stage.id);
  milestone.context[PatternKeys.milestoneWatchers] = watchers;
  tx.updateStage(milestone);
}

/** The stages that exist only to feed `targets`: every downstream path of theirs ends in a target. */
export function exclusiveFeeders(
  stages: ReadonlyArray<Pick<StageSummary, 'refId' | 'requisiteStageRefIds' | 'parentStageId'>>,
  targets: ReadonlySet<string>,
  parentStageId: string | null,
): Set<string> {
  const scope = stages.filter((s) => s.parentStageId === parentStageId);
  const byRef = new Map(scope.map((s) => [s.refId, s]));
  const remaining = new Map<string, number>();
  for (const s of scope) for (const r of s.requisiteStageRefIds) remaining.set(r, (remaining.get(r) ?? 0) + 1);
  const feeders = new Set<string>();
  const queue = [...targets];
  while (queue.length > 0) {
    const ref = queue.pop()!;
    for (const r of byRef.get(ref)?.requisiteStageRefIds ?? []) {
      const left = (remaining.get(r) ?? 0) - 1;
      remaining.set(r, left);
      if (left === 0 && !targets.has(r) && !feeders.has(r)) {
        feeders.add(r);
        queue.push(r);
      }
    }
  }
  return feeders;
}

/**
 * Withdraws (CancelStage withdraw) every unfinished stage among `refIds`, in the order of `refIds`
 * (callers list the branch heads before the stages that feed them, so a head is withdrawn before the
 * death of its feeder reaches it).
 */
export function withdrawStages(tx: Transaction, executionId: string, stages: ReadonlyArray<Pick<StageSummary, 'id' | 'refId' | 'status'>>, refIds: Iterable<string>, reason: string): void {
  const byRef = new Map(stages.map((s) => [s.refId, s]));
  for (const ref of refIds) {
    const s = byRef.get(ref);
    if (s && !isComplete(s.status)) tx.push(Messages.cancelStage(executionId, s.id, { withdraw: true, reason }));
  }
}

/**
 * Bookkeeping of an OR / XOR split that chose `activated` and not `unchosen` (WCP-6/4, WCP-7/37), in
 * the split's own completion transaction: the split records its unchosen branches (their stages see a
 * dead input), and every OR-join downstream of it records which of its upstreams are still live
 * (`_activated_branches`, intersected with what earlier splits recorded). An upstream of the join that
 * does not descend from this split at all stays live: the join waits for it.
 */
export async function recordSplitChoice(deps: HandlerDeps, tx: Transaction, split: StageExecution, unchosen: readonly StageExecution[]): Promise<void> {
  const unchosenRefs = new Set(unchosen.map((d) => d.refId));
  split.context[PatternKeys.unchosenBranches] = [...unchosenRefs];
  const summaries = (await deps.store.retrieveStageSummaries(split.executionId)).filter((s) => s.parentStageId === split.parentStageId);
  const downstreamOf = new Map<string, StageSummary[]>();
  for (const s of summaries) for (const r of s.requisiteStageRefIds) downstreamOf.set(r, [...(downstreamOf.get(r) ?? []), s]);
  // Everything downstream of the split, in breadth-first order, then the dead set by fixed point.
  const closure: StageSummary[] = [];
  const seen = new Set<string>();
  const queue = [split.refId];
  while (queue.length > 0) {
    for (const d of downstreamOf.get(queue.shift()!) ?? []) {
      if (seen.has(d.refId)) continue;
      seen.add(d.refId);
      closure.push(d);
      queue.push(d.refId);
    }
  }
  const dead = new Set<string>();
  const edgeDead = (from: string, to: string) => (from === split.refId && unchosenRefs.has(to)) || dead.has(from);
  for (let grew = true; grew; ) {
    grew = false;
    for (const s of closure) {
      if (!dead.has(s.refId) && s.requisiteStageRefIds.every((r) => edgeDead(r, s.refId))) {
        dead.add(s.refId);
        grew = true;
      }
    }
  }
  const joinRefs = closure.filter((s) => s.requisiteStageRefIds.length > 1 && s.status === WorkflowStatus.NOT_STARTED).map((s) => s.refId);
  if (joinRefs.length === 0) return;
  for (const join of await deps.store.retrieveStagesByRefIds(split.executionId, joinRefs)) {
    if (join.joinType !== 'OR' || join.parentStageId !== split.parentStageId || join.status !== WorkflowStatus.NOT_STARTED) continue;
    const live = join.requisiteStageRefIds.filter((r) => !edgeDead(r, join.refId));
    const previous = join.context[PatternKeys.activatedBranches];
    const next = Array.isArray(previous) ? live.filter((r) => previous.includes(r)) : live;
    if (Array.isArray(previous) && previous.length === next.length) continue;
    join.context[PatternKeys.activatedBranches] = next;
    tx.updateStage(join, WorkflowStatus.NOT_STARTED);
  }
}

/** Upstream parity: a completed branch appends itself to `_completed_branches` of discriminator-like joins. */
export function recordCompletedBranch(tx: Transaction, stage: StageExecution, downstream: readonly StageExecution[], isDiscriminatorLike: (d: StageExecution) => boolean): void {
  for (const d of downstream) {
    if (!isDiscriminatorLike(d)) continue;
    const list = Array.isArray(d.context._completed_branches) ? [...(d.context._completed_branches as string[])] : [];
    if (list.includes(stage.refId)) continue;
    list.push(stage.refId);
    d.context._completed_branches = list;
    tx.updateStage(d);
  }
}

/**
 * After a firing of a re-firing join completed: decide from fresh upstream reads whether it fires
 * again at once (StartStage to itself, in this transaction), can never fire again (`_fire_final`), or
 * waits for the next thread (a later upstream StartStage re-evaluates it).
 */
export async function afterFiring(deps: HandlerDeps, tx: Transaction, stage: StageExecution): Promise<void> {
  if (!isRefiringJoin(stage.joinType) || typeof stage.context[PatternKeys.fireCount] !== 'number') return;
  const upstreams = stage.requisiteStageRefIds.length > 0 ? await deps.store.retrieveStagesByRefIds(stage.executionId, stage.requisiteStageRefIds) : [];
  const scoped = upstreams.filter((u) => u.parentStageId === stage.parentStageId);
  const readiness = evaluateReadiness(stage, scoped);
  stage.context[PatternKeys.fireFinal] = readiness.phase !== 'READY' && readiness.final;
  if (readiness.phase === 'READY') tx.push(Messages.startStage(stage.executionId, stage.id));
}

/** A halted stage tells its re-firing downstream joins, so they can see that no more threads come. */
export async function notifyRefiringDownstream(deps: HandlerDeps, tx: Transaction, stage: StageExecution): Promise<void> {
  const downstream = await deps.store.retrieveDownstreamStages(stage.executionId, stage.refId);
  for (const d of downstream) if (isRefiringJoin(d.joinType) && d.parentStageId === stage.parentStageId) tx.push(Messages.startStage(stage.executionId, d.id));
}

/**
 * WCP-43 explicit termination, inside the caller's transaction: the workflow ends now with `status`;
 * every unfinished stage (except `stageId`, which the caller completes) is withdrawn. Returns false
 * when the workflow had already ended.
 */
export async function terminateWorkflowInTx(
  deps: HandlerDeps,
  tx: Transaction,
  executionId: string,
  options: { status?: WorkflowStatus; reason?: string; stageId?: string; handler: string },
): Promise<boolean> {
  const workflow = await deps.store.retrieveWorkflowOnly(executionId);
  if (isComplete(workflow.status)) return false;
  const status = options.status && isComplete(options.status) ? options.status : WorkflowStatus.SUCCEEDED;
  const now = deps.clock.now();
  tx.updateWorkflow(workflow, { status, endTime: now }, workflow.status);
  const reason = options.reason || 'Workflow terminated explicitly';
  for (const s of await deps.store.retrieveStageSummaries(executionId)) {
    if (s.id !== options.stageId && !isComplete(s.status)) tx.push(Messages.cancelStage(executionId, s.id, { withdraw: true, reason }));
  }
  endWorkflowInTx(deps, tx, workflow, status, now, options.handler, {
    terminated: true,
    reason,
    ...(options.stageId ? { stage_id: options.stageId } : {}),
    ...(status !== WorkflowStatus.SUCCEEDED && status !== WorkflowStatus.CANCELED ? { error: reason } : {}),
  });
  return true;
}

