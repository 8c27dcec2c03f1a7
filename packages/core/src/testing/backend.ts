import type { Clock } from '../clock.js';
import type { EventStore } from '../events/event-store.js';
import type { Queue, WorkflowStore } from '../store/interfaces.js';

/** What a backend package hands the conformance suite: a fresh, empty store and queue pair. */
export interface BackendUnderTest {
  store: WorkflowStore;
  queue: Queue;
  /** The backend's event store (events written by `store.commit`), for the event-sourcing scenarios. */
  events?: EventStore;
  /** Releases connections and deletes whatever the backend created. */
  close(): Promise<void>;
  /**
   * Writes a bad value straight into the backend's storage, past every encoder (the corruption
   * scenarios, issue 11). A factory whose backends cannot do it sets `providesCorruption: false`.
   */
  corrupt?(target: CorruptionTarget): Promise<void>;
}

/**
 * One value to spoil. JSON columns get malformed JSON where the storage type allows it (SQLite
 * text), else a JSON value of the wrong shape (PostgreSQL `jsonb`: a string where an object
 * belongs); status columns get `'BOGUS_STATUS'`. Messages: every queued message of the workflow
 * gets a payload that is not a message object (`malformed`) or the type `'NoSuchMessage'`.
 */
export type CorruptionTarget =
  | { kind: 'workflow'; workflowId: string; column: 'context' | 'trigger' | 'status' }
  | { kind: 'stage'; stageId: string; column: 'context' | 'outputs' | 'status' }
  | { kind: 'task'; taskId: string; column: 'status' }
  | { kind: 'message'; workflowId: string; problem: 'malformed' | 'unknown-type' };

export interface BackendFactory {
  /** Shown in test names, e.g. 'sqlite-file'. */
  name: string;
  /** False when `create` returns no `events` store: the event-store scenarios are then not registered. */
  providesEvents?: boolean;
  /** False: the backends cannot write corrupt rows (no `corrupt`); the corruption scenarios are not registered. */
  providesCorruption?: boolean;
  /** A fresh, empty backend whose timestamps come from `clock`. */
  create(clock: Clock): Promise<BackendUnderTest>;
}
