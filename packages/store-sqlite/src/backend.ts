import type { SqliteOptions } from './options.js';
import { SqliteQueue } from './queue.js';
import { SqliteWorkflowStore } from './store.js';

export interface SqliteBackend {
  store: SqliteWorkflowStore;
  queue: SqliteQueue;
  /** Closes both; the connection closes with its last user. */
  close(): Promise<void>;
}

/** A store and a queue on one database (one shared connection, so commits push atomically). */
export function openSqliteBackend(url: string, options: SqliteOptions = {}): SqliteBackend {
  const store = new SqliteWorkflowStore(url, options);
  let queue: SqliteQueue;
  try {
    queue = new SqliteQueue(url, options);
  } catch (error) {
    void store.close();
    throw error;
  }
  return {
    store,
    queue,
    async close() {
      await queue.close();
      await store.close();
    },
  };
}
