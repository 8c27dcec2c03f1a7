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
}

export interface BackendFactory {
  /** Shown in test names, e.g. 'sqlite-file'. */
  name: string;
  /** False when `create` returns no `events` store: the event-store scenarios are then not registered. */
  providesEvents?: boolean;
  /** A fresh, empty backend whose timestamps come from `clock`. */
  create(clock: Clock): Promise<BackendUnderTest>;
}
