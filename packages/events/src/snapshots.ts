// Snapshots (persistence.md §5.8): the replayed state of a workflow at a sequence, stored with the
// SHA-256 of its canonical JSON. Loading recomputes the hash; a mismatch is an integrity error,
// never silently used. Unlike upstream, start and end times are part of the state.
import type { EventSnapshot, EventStore } from '@stabilize/core';
import { type HASH_ALGORITHM, stateHash } from './canonical-json.js';
import type { WorkflowDocument } from './state.js';

/** What a workflow snapshot stores. */
export interface WorkflowSnapshotState {
  format: 1;
  hashAlgorithm: typeof HASH_ALGORITHM;
  /** Latest timestamp among the events folded in (decides whether it serves an `asOfTime` replay). */
  maxTimestamp: number;
  workflow: WorkflowDocument;
}

export class SnapshotIntegrityError extends Error {
  constructor(
    readonly workflowId: string,
    readonly sequence: number,
  ) {
    super(`Snapshot state integrity check failed for workflow ${workflowId} at sequence ${sequence}`);
    this.name = 'SnapshotIntegrityError';
  }
}

export function createSnapshot(workflowId: string, sequence: number, state: WorkflowSnapshotState, createdAt: number): EventSnapshot {
  return { workflowId, sequence, state, stateHash: stateHash(state), createdAt };
}

/** Throws SnapshotIntegrityError unless the stored hash matches the state. */
export function verifySnapshot(snapshot: EventSnapshot): WorkflowSnapshotState {
  if (stateHash(snapshot.state) !== snapshot.stateHash) throw new SnapshotIntegrityError(snapshot.workflowId, snapshot.sequence);
  const state = snapshot.state as WorkflowSnapshotState;
  if (state?.format !== 1 || typeof state.workflow !== 'object') throw new SnapshotIntegrityError(snapshot.workflowId, snapshot.sequence);
  return state;
}

/** Snapshot access with verification: `load` throws SnapshotIntegrityError on a tampered state. */
export class SnapshotStore {
  constructor(private readonly events: EventStore) {}

  async save(snapshot: EventSnapshot): Promise<void> {
    await this.events.saveSnapshot(snapshot);
  }

  async load(workflowId: string, atOrBeforeSequence?: number): Promise<{ snapshot: EventSnapshot; state: WorkflowSnapshotState } | null> {
    const snapshot = await this.events.loadSnapshot(workflowId, atOrBeforeSequence);
    if (!snapshot) return null;
    return { snapshot, state: verifySnapshot(snapshot) };
  }
}

