// Recording (persistence.md §5.4, done differently): every event goes into `Transaction.events`, so
// the store writes it in the same database transaction as the state it describes. A crash can never
// leave a state change without its events, nor events without their state change; events of a
// transaction that fails are never written and never published.
//
// Two kinds of events per transaction:
// * what the handlers report (`record`): workflow.started, stage.completed, task.failed, ...;
// * what `beforeCommit` derives from the transaction's writes: `workflow.created` (with the whole
//   definition) for every inserted workflow, one `workflow.changed` per workflow carrying every field
//   the transaction writes (the replay state), and the transitions no handler reported
//   (`workflow.paused`, `workflow.resumed`, `workflow.cancel_requested`, `status.changed`).
// Within a workflow, a transaction's events are ordered created -> changed -> derived -> reported,
// all with one timestamp at least as late as the reported ones: cutting a history at any reported
// event, or at any time, never splits a transaction's state.
import { AsyncLocalStorage } from 'node:async_hooks';
import {
  type Clock,
  type EngineEvent,
  type EntityType,
  type EventRecord,
  type EventRecorder,
  type EventStore,
  systemClock,
  Transaction,
  ulid,
  type Workflow,
  type WorkflowStateUpdate,
  WorkflowStatus,
  type WorkflowStore,
} from '@stabilize/core';
import { EventBus } from './bus.js';
import { CURRENT_SCHEMA_VERSION, EventTypes } from './event-types.js';
import { diffStage, type JsonObject, mergeWorkflowUpdates, type StageChange, type StageState, stageDocument, stageState, type WorkflowChangedData, workflowDocument } from './state.js';

// ---- ambient context ------------------------------------------------------------------------------

/** Who or what is acting; applied to the events of transactions committed inside `withEventContext`. */
export interface EventContext {
  actor?: string;
  causationId?: string | null;
  sourceHandler?: string;
}

const contextStorage = new AsyncLocalStorage<EventContext>();

/** Runs `fn` with `context` applied to every event recorded meanwhile (in its async continuation). */
export function withEventContext<T>(context: EventContext, fn: () => T): T {
  return contextStorage.run({ ...contextStorage.getStore(), ...context }, fn);
}

export const currentEventContext = (): EventContext | undefined => contextStorage.getStore();

// ---- options --------------------------------------------------------------------------------------

export interface EventRecorderOptions {
  /**
   * The event store of the same database. With it the recorder adopts workflows that were stored
   * without event sourcing (e.g. before it was enabled): their first recorded transaction starts with
   * a `workflow.created` (`adopted: true`) holding the state as stored until then.
   */
  eventStore?: EventStore;
  /** Where committed events are published (default: a new EventBus). */
  bus?: EventBus;
  /** Publish committed events on the bus. Default true. */
  publish?: boolean;
  /** Default actor. Default 'system'. */
  actor?: string;
  /** Timestamps of derived events when a transaction has no reported one. Default systemClock. */
  clock?: Clock;
  /** How many stage states to remember to diff against without reading the store. Default 2000; 0 disables. */
  stateCacheSize?: number;
}

/** A Map bounded to `limit` entries, evicting the least recently used. */
class Lru<K, V> {
  private readonly map = new Map<K, V>();
  constructor(private readonly limit: number) {}
  get(key: K): V | undefined {
    const value = this.map.get(key);
    if (value !== undefined) {
      this.map.delete(key);
      this.map.set(key, value);
    }
    return value;
  }
  set(key: K, value: V): void {
    if (this.limit <= 0) return;
    this.map.delete(key);
    this.map.set(key, value);
    if (this.map.size > this.limit) this.map.delete(this.map.keys().next().value as K);
  }
}

interface Group {
  created: EventRecord[];
  changed: WorkflowChangedData;
  derived: EventRecord[];
}

interface Pending {
  states: Array<[string, StageState]>;
  known: string[];
  store: WorkflowStore;
}

const PAUSED = WorkflowStatus.PAUSED;

/**
 * The recorder the processor and the orchestrator take as `recorder`. Build it with
 * `configureEventSourcing(eventStore)` or `createEventRecorder()`.
 */
export class EventSourcingRecorder implements EventRecorder {
  readonly bus: EventBus;
  readonly eventStore: EventStore | null;
  private readonly publish: boolean;
  private readonly actor: string;
  private readonly clock: Clock;
  private readonly prepared = new WeakSet<Transaction>();
  private readonly finished = new WeakSet<Transaction>();
  private readonly pending = new WeakMap<Transaction, Pending>();
  /** Stage states as committed by this recorder's transactions, keyed by stage id (checked by version). */
  private readonly states: Lru<string, StageState>;
  /** Workflows known to have their `workflow.created`. */
  private readonly known = new Lru<string, true>(10_000);

  constructor(options: EventRecorderOptions = {}) {
    this.eventStore = options.eventStore ?? null;
    this.bus = options.bus ?? new EventBus();
    this.publish = options.publish ?? true;
    this.actor = options.actor ?? 'system';
    this.clock = options.clock ?? systemClock;
    this.states = new Lru(options.stateCacheSize ?? 2000);
  }

  /** Adds a handler's event to its transaction. */
  record(tx: Transaction, event: EngineEvent): void {
    const context = contextStorage.getStore();
    tx.events.push({
      eventId: ulid(),
      eventType: event.eventType,
      entityType: event.entityType,
      entityId: event.entityId,
      workflowId: event.workflowId,
      version: event.version,
      data: event.data,
      timestamp: event.timestamp,
      correlationId: event.workflowId,
      causationId: context?.causationId ?? tx.consumed?.deliveryId ?? null,
      actor: context?.actor ?? this.actor,
      sourceHandler: context?.sourceHandler ?? event.sourceHandler,
      schemaVersion: CURRENT_SCHEMA_VERSION,
      sequence: 0,
      position: 0,
    });
  }

  /** Adds the events that describe the transaction's writes (see the file comment). Idempotent per transaction. */
  async beforeCommit(tx: Transaction, store: WorkflowStore): Promise<void> {
    if (this.prepared.has(tx)) return;
    this.prepared.add(tx);
    const writes = tx.workflowInserts.length + tx.workflowUpdates.length + tx.stageInserts.length + tx.stageUpdates.length;
    if (writes === 0 && tx.events.length === 0) return;

    const context = contextStorage.getStore();
    const reported = [...tx.events];
    const covered = new Set(reported.map((e) => `${e.entityType}:${e.entityId}`));
    const timestamp = reported.length > 0 ? Math.max(...reported.map((e) => e.timestamp)) : this.clock.now();
    const sourceHandler = context?.sourceHandler ?? reported.find((e) => e.sourceHandler)?.sourceHandler ?? null;
    const causationId = context?.causationId ?? tx.consumed?.deliveryId ?? null;
    const make = (workflowId: string, eventType: string, entityType: EntityType, entityId: string, version: number, data: Record<string, unknown>, actor?: string | null): EventRecord => ({
      eventId: ulid(),
      eventType,
      entityType,
      entityId,
      workflowId,
      version,
      data,
      timestamp,
      correlationId: workflowId,
      causationId,
      actor: context?.actor ?? actor ?? this.actor,
      sourceHandler,
      schemaVersion: CURRENT_SCHEMA_VERSION,
      sequence: 0,
      position: 0,
    });
    const groups = new Map<string, Group>();
    const group = (workflowId: string): Group => {
      let g = groups.get(workflowId);
      if (!g) groups.set(workflowId, (g = { created: [], changed: {}, derived: [] }));
      return g;
    };
    const states: Array<[string, StageState]> = [];
    const created = new Set<string>();

    // 1. Inserted workflows: the whole definition.
    const insertedStates = new Map<string, StageState>();
    for (const workflow of tx.workflowInserts) {
      workflow.createdAt ??= this.clock.now(); // so the stored row and the recorded definition agree
      group(workflow.id).created.push(make(workflow.id, EventTypes.WORKFLOW_CREATED, 'workflow', workflow.id, 1, createdData(workflow, false)));
      created.add(workflow.id);
      for (const stage of workflow.stages) insertedStates.set(stage.id, stageState(stage));
    }

    // 2. Workflow updates, merged per workflow in order.
    const updates = new Map<string, Array<{ fields: WorkflowStateUpdate; expectedStatus?: string }>>();
    for (const u of tx.workflowUpdates) {
      const list = updates.get(u.workflowId) ?? [];
      list.push(u);
      updates.set(u.workflowId, list);
    }
    for (const [workflowId, list] of updates) {
      const fields = mergeWorkflowUpdates(list.map((u) => u.fields));
      if (Object.keys(fields).length === 0) continue;
      const g = group(workflowId);
      g.changed.workflow = fields;
      const expected = list.find((u) => u.expectedStatus !== undefined)?.expectedStatus ?? null;
      g.derived.push(...this.workflowTransitions(workflowId, fields, expected, covered.has(`workflow:${workflowId}`), make));
    }

    // 3. Inserted stages.
    const insertedStageIds = new Set(tx.stageInserts.map((s) => s.id));
    for (const stage of tx.stageInserts) {
      const g = group(stage.executionId);
      (g.changed.insertedStages ??= []).push(stageDocument(stage));
      insertedStates.set(stage.id, stageState(stage));
    }
    for (const [id, state] of insertedStates) states.push([id, state]);

    // 4. Stage updates (a store skips updates of stages this transaction inserts): changed fields.
    const stageUpdates = tx.stageUpdates.filter((u) => !insertedStageIds.has(u.stage.id));
    const previous = await Promise.all(stageUpdates.map(({ stage }) => insertedStates.get(stage.id) ?? this.previousState(stage.id, stage.version, store)));
    stageUpdates.forEach(({ stage }, i) => {
      const next = stageState(stage);
      const prev = previous[i] ?? null;
      const known = prev !== null && prev.version === stage.version ? prev : null;
      const change: StageChange = diffStage(known, next, stage.version + 1);
      const g = group(stage.executionId);
      (g.changed.stages ??= {})[stage.id] = change;
      states.push([stage.id, { ...next, version: stage.version + 1 }]);
      if (!known) return;
      if (known.status !== next.status && !covered.has(`stage:${stage.id}`)) {
        g.derived.push(make(stage.executionId, EventTypes.STATUS_CHANGED, 'stage', stage.id, stage.version + 1, { old_status: known.status, new_status: next.status, ref_id: stage.refId, type: stage.type, name: stage.name }));
      }
      const before = new Map(known.tasks.map((t) => [t.id, t.status]));
      for (const task of stage.tasks) {
        const old = before.get(task.id);
        if (old === undefined || old === task.status || covered.has(`task:${task.id}`)) continue;
        g.derived.push(make(stage.executionId, EventTypes.STATUS_CHANGED, 'task', task.id, task.version, { old_status: old, new_status: task.status, name: task.name, stage_id: stage.id }));
      }
    });

    // 5. Workflows first seen without their `workflow.created`: adopt them.
    for (const workflowId of new Set([...groups.keys(), ...reported.map((e) => e.workflowId)])) {
      if (created.has(workflowId)) continue;
      if (this.known.get(workflowId)) continue;
      const adopted = await this.adopt(workflowId, store);
      if (adopted === 'known') created.add(workflowId);
      else if (adopted) {
        group(workflowId).created.push(make(workflowId, EventTypes.WORKFLOW_CREATED, 'workflow', workflowId, 1, createdData(adopted, true)));
        created.add(workflowId);
      }
    }

    const added: EventRecord[] = [];
    for (const [workflowId, g] of groups) {
      added.push(...g.created);
      const { workflow, insertedStages, stages } = g.changed;
      if (workflow || insertedStages || stages) added.push(make(workflowId, EventTypes.WORKFLOW_CHANGED, 'workflow', workflowId, 0, g.changed as Record<string, unknown>));
      added.push(...g.derived);
    }
    tx.events.unshift(...added);
    this.pending.set(tx, { states, known: [...created], store });
  }

  /** After a commit: remembers the committed stage states and publishes the events. Idempotent per transaction. */
  afterCommit(tx: Transaction): void {
    if (this.finished.has(tx)) return;
    this.finished.add(tx);
    const pending = this.pending.get(tx);
    this.pending.delete(tx);
    // Copied now: handlers' event data may reference objects they go on using.
    const publish = this.publish && this.bus.hasSubscribers && tx.events.length > 0 ? tx.events.map((e) => structuredClone(e)) : null;
    const done = () => {
      if (pending) {
        for (const [id, state] of pending.states) this.states.set(id, state);
        for (const id of pending.known) this.known.set(id, true);
      }
      if (publish) this.bus.publishAll(publish);
    };
    // A store that commits in groups (SQLite group commit) tells when the commit is durable.
    const durable = (pending?.store as { whenDurable?: (callback: () => void) => void } | undefined)?.whenDurable;
    if (durable) durable.call(pending!.store, done);
    else done();
  }

  private workflowTransitions(
    workflowId: string,
    fields: JsonObject,
    expected: string | null,
    covered: boolean,
    make: (workflowId: string, type: string, entity: EntityType, id: string, version: number, data: Record<string, unknown>, actor?: string | null) => EventRecord,
  ): EventRecord[] {
    const out: EventRecord[] = [];
    const paused = fields.paused as { pausedBy?: string; pauseTime?: number | null; resumeTime?: number | null; pausedMs?: number } | null | undefined;
    if (fields.isCanceled === true) {
      out.push(make(workflowId, EventTypes.WORKFLOW_CANCEL_REQUESTED, 'workflow', workflowId, 0, { canceled_by: fields.canceledBy ?? null, reason: fields.cancellationReason ?? null }, (fields.canceledBy as string | null) ?? null));
    }
    const status = fields.status as string | undefined;
    if (status === undefined || covered || status === expected) return out;
    if (status === PAUSED && paused) {
      out.push(make(workflowId, EventTypes.WORKFLOW_PAUSED, 'workflow', workflowId, 0, { paused_by: paused.pausedBy ?? null, pause_time: paused.pauseTime ?? null }, paused.pausedBy ?? null));
    } else if (expected === PAUSED && status === WorkflowStatus.RUNNING) {
      out.push(make(workflowId, EventTypes.WORKFLOW_RESUMED, 'workflow', workflowId, 0, { resume_time: paused?.resumeTime ?? null, paused_ms: paused?.pausedMs ?? null }));
    } else {
      out.push(make(workflowId, EventTypes.STATUS_CHANGED, 'workflow', workflowId, 0, { old_status: expected, new_status: status }));
    }
    return out;
  }

  /** The stored state a stage update replaces: remembered when its version matches, else read. */
  private async previousState(stageId: string, version: number, store: WorkflowStore): Promise<StageState | null> {
    const cached = this.states.get(stageId);
    if (cached && cached.version === version) return cached;
    try {
      return stageState(await store.retrieveStage(stageId));
    } catch {
      return null; // gone or unreadable: the change then carries the whole state (the commit will likely fail)
    }
  }

  /** 'known' when the workflow has its `workflow.created` already, the stored workflow to adopt, or null. */
  private async adopt(workflowId: string, store: WorkflowStore): Promise<'known' | Workflow | null> {
    if (!this.eventStore) return null;
    const existing = await this.eventStore.readWorkflow(workflowId, { eventTypes: [EventTypes.WORKFLOW_CREATED] });
    if (existing.length > 0) {
      this.known.set(workflowId, true);
      return 'known';
    }
    try {
      return await store.retrieve(workflowId);
    } catch {
      return null;
    }
  }
}

function createdData(workflow: Workflow, adopted: boolean): Record<string, unknown> {
  const topLevel = workflow.stages.filter((s) => s.parentStageId === null);
  return {
    application: workflow.application,
    name: workflow.name,
    type: workflow.type,
    trigger_type: workflow.trigger.type || 'manual',
    stage_count: workflow.stages.length,
    initial_stage_count: topLevel.filter((s) => s.requisiteStageRefIds.length === 0).length,
    ...(adopted ? { adopted: true } : {}),
    definition: workflowDocument(workflow),
  };
}

// ---- entry points ---------------------------------------------------------------------------------

/** A recorder without an event store (no adoption of workflows stored before recording began). */
export function createEventRecorder(options: EventRecorderOptions = {}): EventSourcingRecorder {
  return new EventSourcingRecorder(options);
}

/**
 * Event sourcing in one line: pass the result as `recorder` to the QueueProcessor and the
 * Orchestrator. `eventStore` must be the event store of the database the workflow store commits to.
 */
export function configureEventSourcing(eventStore: EventStore, options: Omit<EventRecorderOptions, 'eventStore'> = {}): EventSourcingRecorder {
  return new EventSourcingRecorder({ ...options, eventStore });
}

/**
 * `store` with `recorder` around every commit, and `store()` turned into a recorded commit: for code
 * that writes through the store directly (tools, tests, migrations) rather than through the
 * processor or the orchestrator. Combining it with a processor given the same recorder is harmless:
 * the recorder handles each transaction once.
 */
export function eventSourcedStore<S extends WorkflowStore>(store: S, recorder: EventRecorder): S {
  const commit = async (tx: Transaction): Promise<void> => {
    await recorder.beforeCommit?.(tx, store);
    await store.commit(tx);
    recorder.afterCommit?.(tx);
  };
  const storeWorkflow = async (workflow: Workflow): Promise<void> => {
    workflow.validate();
    await commit(new Transaction().insertWorkflow(workflow));
  };
  // Properties assigned on the wrapper (e.g. a test spying on `commit`) stay on the wrapper: the
  // wrapped store is never modified, so an override calling the wrapper's own method cannot loop.
  const own = new Map<PropertyKey, unknown>([
    ['commit', commit],
    ['store', storeWorkflow],
  ]);
  return new Proxy(store, {
    get(target, property) {
      if (own.has(property)) return own.get(property);
      const value = Reflect.get(target, property, target) as unknown;
      return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
    },
    set(_target, property, value) {
      own.set(property, value);
      return true;
    },
  });
}
