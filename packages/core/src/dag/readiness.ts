import { JoinType, type StageExecution } from '../model/stage-execution.js';
import { isComplete, isContinuable, isHalt, WorkflowStatus } from '../model/status.js';

/**
 * READY: start (or fire again). NOT_READY: wait; an upstream that is still pending will send a new
 * StartStage when it moves on. SKIP: an upstream halted and the join can no longer fire (the workflow
 * is failing). DEAD: no thread of control can ever reach the stage (every input is a dead path): the
 * stage is skipped as a dead path and the death propagates downstream (dead-path elimination).
 */
export type ReadinessPhase = 'READY' | 'NOT_READY' | 'SKIP' | 'DEAD';

export interface Readiness {
  phase: ReadinessPhase;
  reason: string;
  failedUpstreamIds: string[];
  /** Upstreams still pending: they will notify this stage when they move on. */
  activeUpstreamIds: string[];
  /** Upstreams that can no longer deliver a thread (dead path, withdrawn, not chosen by their split). */
  deadUpstreamIds: string[];
  /**
   * Re-firing joins only: nothing can make the stage fire again (every upstream is final and no
   * unconsumed thread is left). The stage then records `_fire_final` and tells its downstream.
   */
  final: boolean;
}

/** What readiness needs to know of an upstream. `context` carries the pattern bookkeeping keys. */
export interface UpstreamView {
  id: string;
  refId: string;
  status: WorkflowStatus;
  context?: Record<string, unknown>;
}

/** Joins that can fire more than once per run (docs/patterns.md "Threads and firings"). */
export const REFIRING_JOINS: ReadonlySet<JoinType> = new Set([
  JoinType.MULTI_MERGE,
  JoinType.GENERALISED_AND,
  JoinType.THREAD_MERGE,
  JoinType.BLOCKING_DISCRIMINATOR,
  JoinType.BLOCKING_N_OF_M,
]);

/** Joins that withdraw the unfinished stages feeding them when they fire. */
export const CANCELLING_JOINS: ReadonlySet<JoinType> = new Set([JoinType.CANCELLING_DISCRIMINATOR, JoinType.CANCELLING_N_OF_M]);

/** Joins that keep the upstream `_join_fired` / `_completed_branches` bookkeeping. */
export const DISCRIMINATOR_JOINS: ReadonlySet<JoinType> = new Set([
  JoinType.DISCRIMINATOR,
  JoinType.N_OF_M,
  JoinType.BLOCKING_DISCRIMINATOR,
  JoinType.CANCELLING_DISCRIMINATOR,
  JoinType.BLOCKING_N_OF_M,
  JoinType.CANCELLING_N_OF_M,
]);

export const isRefiringJoin = (joinType: JoinType): boolean => REFIRING_JOINS.has(joinType);

/** A stage withdrawn by a deferred choice, a cancel region, a cancelling join or cancel-MI: ended work, not a failure. */
export function isWithdrawn(stage: { status: WorkflowStatus; context?: Record<string, unknown> }): boolean {
  return stage.status === WorkflowStatus.CANCELED && stage.context?._withdrawn !== undefined && stage.context._withdrawn !== null && stage.context._withdrawn !== false;
}

/** A stage skipped by dead-path elimination (no thread of control reached it). */
export function isDeadPath(stage: { status: WorkflowStatus; context?: Record<string, unknown> }): boolean {
  return stage.status === WorkflowStatus.SKIPPED && stage.context?._dead_path === true;
}

/** A re-firing join that may still fire again: its completion is not the end of its work. */
export function mayFireAgain(stage: { status: WorkflowStatus; context?: Record<string, unknown> }): boolean {
  return typeof stage.context?._fire_count === 'number' && stage.context._fire_final !== true && !isHalt(stage.status);
}

type Kind = 'ARRIVED' | 'PENDING' | 'DEAD' | 'HALTED';

interface Classified {
  u: UpstreamView;
  kind: Kind;
  /** Threads delivered so far. */
  tokens: number;
  /** Will never deliver another thread. */
  final: boolean;
}

/** Threads a completed ordinary stage passes on: `threadCount` (thread split, WCP-42) or 1. */
function threadCount(context: Record<string, unknown> | undefined): number {
  const n = context?.threadCount;
  return typeof n === 'number' && Number.isInteger(n) && n >= 1 ? n : 1;
}

/** How `u` looks from the stage `refId` (see docs/patterns.md "Threads and firings"). */
export function classifyUpstream(refId: string | undefined, u: UpstreamView): Classified {
  const ctx = u.context;
  const unchosen = refId !== undefined && isContinuable(u.status) && Array.isArray(ctx?._unchosen_branches) && (ctx._unchosen_branches as unknown[]).includes(refId);
  if (isWithdrawn(u) || isDeadPath(u) || unchosen) return { u, kind: 'DEAD', tokens: 0, final: true };
  if (isHalt(u.status)) return { u, kind: 'HALTED', tokens: 0, final: true };
  if (typeof ctx?._fire_count === 'number') {
    const count = ctx._fire_count as number;
    const done = isComplete(u.status) ? count : Math.max(0, count - 1);
    const final = isComplete(u.status) && ctx._fire_final === true;
    if (done > 0) return { u, kind: 'ARRIVED', tokens: done, final };
    return { u, kind: final ? 'DEAD' : 'PENDING', tokens: 0, final };
  }
  if (isContinuable(u.status)) return { u, kind: 'ARRIVED', tokens: threadCount(ctx), final: true };
  return { u, kind: 'PENDING', tokens: 0, final: false };
}

/**
 * Whether `stage` may start (or fire again) given its direct upstreams (engine.md §2.2-2.3, extended
 * for every join of docs/patterns.md). Pure: the caller loads the upstreams. Missing (null) upstream
 * entries are ignored. A re-firing join passes its own `context._fire_count` (firings so far).
 */
export function evaluateReadiness(
  stage: Pick<StageExecution, 'joinType' | 'joinThreshold' | 'context'> & { refId?: string },
  upstreams: ReadonlyArray<UpstreamView | null | undefined>,
  jumpBypass = false,
): Readiness {
  const base = { failedUpstreamIds: [] as string[], activeUpstreamIds: [] as string[], deadUpstreamIds: [] as string[], final: false };
  if (jumpBypass) return { ...base, phase: 'READY', reason: 'Jump bypass enabled' };
  let ups = upstreams.filter((u): u is UpstreamView => u !== null && u !== undefined);
  if (ups.length === 0) return { ...base, phase: 'READY', reason: 'No upstream stages' };

  // OR-join with the bookkeeping of its OR-split(s): only the branches still live are waited for.
  const activated = stage.context._activated_branches;
  if (stage.joinType === JoinType.OR && Array.isArray(activated)) ups = ups.filter((u) => activated.includes(u.refId));

  const all = ups.map((u) => classifyUpstream(stage.refId, u));
  const of = (kind: Kind) => all.filter((c) => c.kind === kind);
  const arrived = of('ARRIVED');
  const pending = of('PENDING');
  const dead = of('DEAD');
  const halted = of('HALTED');
  const live = all.filter((c) => c.kind !== 'DEAD');
  const allFinal = all.every((c) => c.final);
  const ids = (list: Classified[]) => list.map((c) => c.u.id);
  const result = (phase: ReadinessPhase, reason: string, final = false): Readiness => ({
    phase,
    reason,
    failedUpstreamIds: phase === 'SKIP' ? ids(halted) : [],
    activeUpstreamIds: phase === 'NOT_READY' ? ids(all.filter((c) => !c.final)) : [],
    deadUpstreamIds: ids(dead),
    final,
  });
  // Nothing can ever fire: every input is dead (dead path) or some halted (the workflow is failing).
  const never = (reason: string) => (halted.length > 0 ? result('SKIP', reason) : result('DEAD', reason));

  if (stage.joinType === JoinType.OR && Array.isArray(activated) && ups.length === 0) return result('DEAD', 'No activated upstream is live');

  const fired = typeof stage.context._fire_count === 'number' ? (stage.context._fire_count as number) : 0;
  const threshold = stage.joinThreshold;
  const sum = (list: Classified[]) => list.reduce((n, c) => n + c.tokens, 0);

  switch (stage.joinType) {
    case JoinType.DISCRIMINATOR:
    case JoinType.CANCELLING_DISCRIMINATOR: {
      if (stage.context._join_fired === true) return { ...result('NOT_READY', 'Join already fired'), activeUpstreamIds: [] };
      if (arrived.length > 0) return result('READY', 'An upstream completed');
      if (pending.length > 0) return result('NOT_READY', 'Waiting for the first upstream');
      return never(halted.length > 0 ? 'Every upstream halted or is dead' : 'Every upstream is a dead path');
    }
    case JoinType.N_OF_M:
    case JoinType.CANCELLING_N_OF_M: {
      if (threshold <= 0) break;
      if (stage.context._join_fired === true) return { ...result('NOT_READY', 'Join already fired'), activeUpstreamIds: [] };
      if (arrived.length >= threshold) return result('READY', `${arrived.length} of ${ups.length} upstreams complete`);
      if (arrived.length + pending.length < threshold) return never('Threshold can no longer be reached');
      return result('NOT_READY', `Waiting for ${threshold - arrived.length} more upstreams`);
    }
    case JoinType.MULTI_MERGE: {
      // WCP-8: one firing per thread that arrives, from any branch.
      if (sum(arrived) > fired) return result('READY', `Thread ${fired + 1} arrived`);
      if (allFinal) return fired === 0 ? never('No thread can arrive') : result('NOT_READY', 'Every thread has been merged', true);
      return result('NOT_READY', 'Waiting for the next thread');
    }
    case JoinType.GENERALISED_AND: {
      // WCP-33: one firing per complete set (a thread from every live branch); extra threads wait.
      if (live.length > 0 && live.every((c) => c.tokens > fired)) return result('READY', `Set ${fired + 1} complete`);
      const stuck = live.some((c) => c.final && c.tokens <= fired);
      if (live.length === 0 || stuck || allFinal) return fired === 0 ? never('No complete set can arrive') : result('NOT_READY', 'No further complete set can arrive', true);
      return result('NOT_READY', 'Waiting for a complete set');
    }
    case JoinType.THREAD_MERGE: {
      // WCP-41: one firing per `joinThreshold` threads.
      const n = Math.max(1, threshold);
      if (sum(arrived) >= (fired + 1) * n) return result('READY', `${n} threads merged`);
      if (allFinal) return fired === 0 ? never(`Fewer than ${n} threads can arrive`) : result('NOT_READY', 'No further group of threads can arrive', true);
      return result('NOT_READY', `Waiting for ${(fired + 1) * n - sum(arrived)} more threads`);
    }
    case JoinType.BLOCKING_DISCRIMINATOR:
    case JoinType.BLOCKING_N_OF_M: {
      // WCP-28 / WCP-31: round r fires on the first (N-th) branch to deliver its r-th thread; further
      // threads of that round are absorbed and later ones are held until every live branch has
      // delivered its r-th thread (the round is complete), then the next round can fire.
      const n = stage.joinType === JoinType.BLOCKING_DISCRIMINATOR ? 1 : threshold > 0 ? threshold : live.length;
      const roundComplete = fired === 0 || live.every((c) => c.tokens >= fired);
      const ready = live.filter((c) => c.tokens >= fired + 1).length;
      if (roundComplete && ready >= Math.max(1, n)) return result('READY', `Round ${fired + 1} fired`);
      if (allFinal || (fired === 0 && arrived.length + pending.length < n)) {
        return fired === 0 ? never('The join can no longer fire') : result('NOT_READY', 'No further round can fire', true);
      }
      return result('NOT_READY', roundComplete ? 'Waiting for the next round' : `Round ${fired} not complete`);
    }
    default:
      break;
  }
  // AND (and OR): every input must be determined; a dead input counts as done, but a join whose every
  // input is dead is itself dead.
  if (halted.length > 0) return result('SKIP', 'Upstream stage failed');
  if (pending.length > 0) return result('NOT_READY', stage.joinType === JoinType.OR && Array.isArray(activated) ? 'Waiting for activated upstreams' : 'Waiting for upstream stages');
  if (arrived.length === 0) return result('DEAD', 'Every upstream is a dead path');
  return result('READY', stage.joinType === JoinType.OR && Array.isArray(activated) ? 'All activated upstreams complete' : 'All upstream stages complete');
}
