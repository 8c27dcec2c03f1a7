// Replay and time travel (persistence.md §5.6): a workflow's state rebuilt from its events, as of
// now, a sequence or a time. Unlike upstream, the result is the engine's own `Workflow` model and,
// for any committed point, equals what the store held then field by field: `workflow.created`
// carries the whole definition and every later write is in a `workflow.changed`.
import { type Clock, type EventRecord, type EventSnapshot, type EventStore, StabilizeError, systemClock, Workflow, WorkflowNotFoundError } from '@stabilize/core';
import { CURRENT_SCHEMA_VERSION, EventTypes, isStateEvent } from './event-types.js';
import { createSnapshot, SnapshotStore, type WorkflowSnapshotState } from './snapshots.js';
import { applyWorkflowChanged, type WorkflowChangedData, type WorkflowDocument, workflowDocument, workflowFromDocument } from './state.js';
import { UpcasterRegistry } from './upcasting.js';

export interface RebuildOptions {
  /** The state after the event with this sequence (and every earlier one). */
  asOfSequence?: number;
  /**
   * The state after the longest run of events (in sequence order) with timestamp <= asOfTime. A
   * transaction's events share one timestamp, so this never splits a transaction.
   */
  asOfTime?: number;
  /** Start from the newest usable snapshot. Default true. */
  useSnapshots?: boolean;
}

export interface RebuildResult {
  workflow: Workflow;
  /** Sequence of the last event folded in. */
  sequence: number;
  /** Latest timestamp among the events folded in. */
  maxTimestamp: number;
  /** Events read and applied after the starting point. */
  eventsApplied: number;
  /** The snapshot the rebuild started from, if any. */
  snapshotSequence: number | null;
}

export interface EventReplayerOptions {
  /** Upcasters applied (leniently) to every event before it is folded in. */
  upcasters?: UpcasterRegistry;
  /** Schema version this replayer understands. Default CURRENT_SCHEMA_VERSION. */
  schemaVersion?: number;
  /** Save a snapshot after a rebuild that applied at least this many events. Default 0 (never). */
  snapshotEvery?: number;
  clock?: Clock;
}

export class ReplayError extends StabilizeError {}

export class EventReplayer {
  readonly upcasters: UpcasterRegistry;
  private readonly schemaVersion: number;
  private readonly snapshotEvery: number;
  private readonly snapshots: SnapshotStore;
  private readonly clock: Clock;

  constructor(
    readonly events: EventStore,
    options: EventReplayerOptions = {},
  ) {
    this.upcasters = options.upcasters ?? new UpcasterRegistry();
    this.schemaVersion = options.schemaVersion ?? CURRENT_SCHEMA_VERSION;
    this.snapshotEvery = options.snapshotEvery ?? 0;
    this.snapshots = new SnapshotStore(events);
    this.clock = options.clock ?? systemClock;
  }

  /** The workflow as of now, a sequence or a time. Throws WorkflowNotFoundError when it has no events. */
  async rebuildWorkflowState(workflowId: string, options: RebuildOptions = {}): Promise<Workflow> {
    return (await this.rebuild(workflowId, options)).workflow;
  }

  /** `rebuildWorkflowState` with where it started and how far it got. */
  async rebuild(workflowId: string, options: RebuildOptions = {}): Promise<RebuildResult> {
    let workflow: Workflow | null = null;
    let sequence = 0;
    let maxTimestamp = 0;
    let snapshotSequence: number | null = null;
    if (options.useSnapshots !== false) {
      const loaded = await this.snapshots.load(workflowId, options.asOfSequence);
      if (loaded && (options.asOfTime === undefined || loaded.state.maxTimestamp <= options.asOfTime)) {
        workflow = workflowFromDocument(loaded.state.workflow);
        sequence = snapshotSequence = loaded.snapshot.sequence;
        maxTimestamp = loaded.state.maxTimestamp;
      }
    }
    const events = await this.events.readWorkflow(workflowId, {
      afterSequence: sequence,
      ...(options.asOfSequence !== undefined ? { toSequence: options.asOfSequence } : {}),
      ...(options.asOfTime !== undefined ? { asOfTime: options.asOfTime } : {}),
    });
    let applied = 0;
    for (const stored of events) {
      // With asOfTime the read leaves out later events; stop at the first one left out.
      if (options.asOfTime !== undefined && stored.sequence !== sequence + 1) break;
      const event = this.upcasters.upcast(stored, this.schemaVersion, { strict: false });
      workflow = applyEvent(workflow, event);
      sequence = stored.sequence;
      maxTimestamp = Math.max(maxTimestamp, stored.timestamp);
      applied += 1;
    }
    if (workflow === null) {
      if (sequence === 0) throw new WorkflowNotFoundError(workflowId);
      throw new ReplayError(`Workflow ${workflowId} has events but no workflow.created: it was stored without event sourcing`);
    }
    if (this.snapshotEvery > 0 && applied >= this.snapshotEvery) await this.saveSnapshotOf(workflowId, workflow, sequence, maxTimestamp);
    return { workflow, sequence, maxTimestamp, eventsApplied: applied, snapshotSequence };
  }

  /** Saves a snapshot of the current (or `asOfSequence`) state; later rebuilds start from it. */
  async saveSnapshot(workflowId: string, options: { asOfSequence?: number } = {}): Promise<EventSnapshot> {
    const { workflow, sequence, maxTimestamp } = await this.rebuild(workflowId, options);
    return this.saveSnapshotOf(workflowId, workflow, sequence, maxTimestamp);
  }

  private async saveSnapshotOf(workflowId: string, workflow: Workflow, sequence: number, maxTimestamp: number): Promise<EventSnapshot> {
    const state: WorkflowSnapshotState = { format: 1, hashAlgorithm: 'sha256-canonical-json-v1', maxTimestamp, workflow: workflowDocument(workflow) as WorkflowDocument };
    const snapshot = createSnapshot(workflowId, sequence, state, this.clock.now());
    await this.snapshots.save(snapshot);
    return snapshot;
  }

  /** The states at two sequences. */
  async compareStates(workflowId: string, fromSequence: number, toSequence: number): Promise<{ before: Workflow; after: Workflow; sequenceRange: { from: number; to: number } }> {
    const [before, after] = await Promise.all([this.rebuildWorkflowState(workflowId, { asOfSequence: fromSequence }), this.rebuildWorkflowState(workflowId, { asOfSequence: toSequence })]);
    return { before, after, sequenceRange: { from: fromSequence, to: toSequence } };
  }

  /**
   * The audit trail: the workflow's events in order, upcast, without the `workflow.changed` state
   * events unless `includeState`. `entityId` narrows it to one workflow, stage or task.
   */
  async history(workflowId: string, options: { entityId?: string; eventTypes?: readonly string[]; includeState?: boolean } = {}): Promise<EventRecord[]> {
    const events = await this.events.readWorkflow(workflowId, options.eventTypes ? { eventTypes: options.eventTypes } : {});
    return events
      .filter((e) => (options.includeState || !isStateEvent(e)) && (options.entityId === undefined || e.entityId === options.entityId))
      .map((e) => this.upcasters.upcast(e, this.schemaVersion, { strict: false }));
  }

  /** Feeds the events after `afterSequence` (upcast) to `handler`, in order. Returns how many. */
  async replayFrom(workflowId: string, afterSequence: number, handler: (event: EventRecord) => void | Promise<void>): Promise<number> {
    const events = await this.events.readWorkflow(workflowId, { afterSequence });
    for (const event of events) await handler(this.upcasters.upcast(event, this.schemaVersion, { strict: false }));
    return events.length;
  }
}

/** Folds one event into the state. Only `workflow.created` and `workflow.changed` change it. */
export function applyEvent(workflow: Workflow | null, event: EventRecord): Workflow | null {
  switch (event.eventType) {
    case EventTypes.WORKFLOW_CREATED: {
      if (workflow !== null) return workflow; // the first one wins (see the recorder's adoption)
      const definition = event.data.definition as WorkflowDocument | undefined;
      if (definition) return workflowFromDocument(definition);
      // A created event without a definition (foreign or older history): what it names.
      return new Workflow({ id: event.workflowId, application: String(event.data.application ?? ''), name: String(event.data.name ?? '') });
    }
    case EventTypes.WORKFLOW_CHANGED:
      if (workflow !== null) applyWorkflowChanged(workflow, event.data as WorkflowChangedData);
      return workflow;
    default:
      return workflow;
  }
}
