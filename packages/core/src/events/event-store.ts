// The persisted form of an engine event and the read side every backend offers for it. Events are
// written by `WorkflowStore.commit` from `Transaction.events`, in the same transaction as the state
// they describe. Recording, replay and projections live in @stabilize/events.
import type { EntityType } from './recorder.js';

export interface EventRecord {
  /** Unique id (ULID). */
  eventId: string;
  /** Dotted type, e.g. 'stage.completed'. */
  eventType: string;
  entityType: EntityType;
  entityId: string;
  workflowId: string;
  /** Entity version after the transition. */
  version: number;
  data: Record<string, unknown>;
  /** Epoch ms. */
  timestamp: number;
  /** The workflow id for engine events. */
  correlationId: string;
  /** Id of the event (or message) that caused this one, if known. */
  causationId: string | null;
  actor: string;
  sourceHandler: string | null;
  /** Payload shape version, for upcasting older events. */
  schemaVersion: number;
  /** 1-based position within its workflow, assigned by the store on append (0 before). */
  sequence: number;
  /**
   * Global position across all workflows (0 until assigned). In-memory and SQLite assign it on
   * append, in commit order. A store whose transactions can commit out of allocation order
   * (PostgreSQL) assigns it after commit, when the event first becomes readable in order; `readAll`
   * only returns positioned events.
   */
  position: number;
}

export interface ReadWorkflowEventsOptions {
  /** Only events with sequence > afterSequence. */
  afterSequence?: number;
  /** Only events with sequence <= toSequence. */
  toSequence?: number;
  /** Only events with timestamp <= asOfTime. */
  asOfTime?: number;
  eventTypes?: readonly string[];
}

export interface ReadAllEventsOptions {
  /** Only events with position > afterPosition. */
  afterPosition?: number;
  limit?: number;
  eventTypes?: readonly string[];
  workflowId?: string;
}

export interface EventSnapshot {
  workflowId: string;
  /** Sequence of the last event folded into the state. */
  sequence: number;
  state: unknown;
  /** SHA-256 of the canonical JSON of `state`. */
  stateHash: string;
  createdAt: number;
}

/**
 * The event side of a backend. `readAll` never returns an event while an earlier-positioned event
 * may still commit (so a subscriber that checkpoints the last position it saw never skips one).
 */
export interface EventStore {
  /** Appends events outside any state transaction (custom events); assigns sequence and position. */
  append(events: EventRecord[]): Promise<EventRecord[]>;
  readWorkflow(workflowId: string, options?: ReadWorkflowEventsOptions): Promise<EventRecord[]>;
  readAll(options?: ReadAllEventsOptions): Promise<EventRecord[]>;
  saveSnapshot(snapshot: EventSnapshot): Promise<void>;
  /** The newest snapshot at or before `atOrBeforeSequence` (any when omitted). */
  loadSnapshot(workflowId: string, atOrBeforeSequence?: number): Promise<EventSnapshot | null>;
  /** Durable subscription checkpoints. */
  loadCheckpoint(subscriptionId: string): Promise<number>;
  saveCheckpoint(subscriptionId: string, position: number): Promise<void>;
}
