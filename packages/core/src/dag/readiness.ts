import { JoinType, type StageExecution } from '../model/stage-execution.js';
import { isActive, isComplete, isContinuable, isHalt, type WorkflowStatus } from '../model/status.js';

export type ReadinessPhase = 'READY' | 'NOT_READY' | 'SKIP';

export interface Readiness {
  phase: ReadinessPhase;
  reason: string;
  failedUpstreamIds: string[];
  activeUpstreamIds: string[];
}

export interface UpstreamView {
  id: string;
  refId: string;
  status: WorkflowStatus;
}

const ready = (reason: string): Readiness => ({ phase: 'READY', reason, failedUpstreamIds: [], activeUpstreamIds: [] });

/**
 * Whether `stage` may start given its direct upstreams (engine.md §2.2-2.3). Pure: the caller
 * loads the upstreams. Missing (null) upstream entries are ignored.
 */
export function evaluateReadiness(
  stage: Pick<StageExecution, 'joinType' | 'joinThreshold' | 'context'>,
  upstreams: ReadonlyArray<UpstreamView | null | undefined>,
  jumpBypass = false,
): Readiness {
  if (jumpBypass) return ready('Jump bypass enabled');
  const ups = upstreams.filter((u): u is UpstreamView => u !== null && u !== undefined);
  if (ups.length === 0) return ready('No upstream stages');

  const halted = ups.filter((u) => isHalt(u.status));
  const continuable = ups.filter((u) => isContinuable(u.status));
  const incomplete = ups.filter((u) => !isContinuable(u.status));
  const activeIds = () => {
    const active = incomplete.filter((u) => isActive(u.status)).map((u) => u.id);
    return active.length > 0 ? active : incomplete.map((u) => u.id);
  };
  const notReady = (reason: string): Readiness => ({ phase: 'NOT_READY', reason, failedUpstreamIds: [], activeUpstreamIds: activeIds() });
  const skip = (reason: string, failed: UpstreamView[]): Readiness => ({
    phase: 'SKIP',
    reason,
    failedUpstreamIds: failed.map((u) => u.id),
    activeUpstreamIds: [],
  });

  switch (stage.joinType) {
    case JoinType.OR: {
      const activated = stage.context._activated_branches;
      if (!Array.isArray(activated)) break; // without bookkeeping an OR-join behaves as AND
      const relevant = ups.filter((u) => activated.includes(u.refId));
      if (relevant.some((u) => isHalt(u.status))) return skip('An activated upstream halted', relevant.filter((u) => isHalt(u.status)));
      if (relevant.every((u) => isContinuable(u.status))) return ready('All activated upstreams complete');
      return notReady('Waiting for activated upstreams');
    }
    case JoinType.MULTI_MERGE:
    case JoinType.DISCRIMINATOR: {
      if (stage.context._join_fired === true) return notReady('Join already fired');
      if (continuable.length > 0) return ready('An upstream completed');
      if (halted.length === ups.length) return skip('All upstreams halted', halted);
      return notReady('Waiting for the first upstream');
    }
    case JoinType.N_OF_M: {
      const threshold = stage.joinThreshold;
      if (threshold > 0) {
        if (stage.context._join_fired === true) return notReady('Join already fired');
        if (continuable.length >= threshold) return ready(`${continuable.length} of ${ups.length} upstreams complete`);
        const stillPossible = ups.filter((u) => isContinuable(u.status) || !isComplete(u.status)).length;
        if (stillPossible < threshold) return skip('Threshold can no longer be reached', halted);
        return notReady(`Waiting for ${threshold - continuable.length} more upstreams`);
      }
      break;
    }
    default:
      break;
  }
  if (halted.length > 0) return skip('Upstream stage failed', halted);
  if (incomplete.length === 0) return ready('All upstream stages complete');
  return notReady('Waiting for upstream stages');
}
