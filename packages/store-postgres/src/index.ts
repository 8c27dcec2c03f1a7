// @stabilize/store-postgres: the PostgreSQL WorkflowStore, Queue and EventStore, and the migrations
// behind `stabilize mg-up` / `stabilize mg-status`.
import type { PostgresOptions } from './backend.js';
import { PostgresEventStore } from './events.js';
import { PostgresQueue } from './queue.js';
import { PostgresWorkflowStore } from './store.js';

export type { PostgresOptions } from './backend.js';
export { assertValidSchemaName, isValidSchemaName, parsePostgresUrl, type ParsedPostgresUrl, redactUrl, sharedPoolCount } from './connection.js';
export { isAuthenticationError, isConnectionError, isDatabaseMissingError, mapPgError } from './errors.js';
export { PostgresEventStore, type PostgresEventStoreOptions } from './events.js';
export {
  loadMigrations,
  MIGRATIONS_DIR,
  migrate,
  type MigrateOptions,
  type MigrateResult,
  MigrationError,
  type MigrationFile,
  type MigrationState,
  type MigrationStatus,
  type MigrationStatusEntry,
  migrationChecksum,
  migrationStatus,
  parseMigration,
  strictMigrationsFromEnv,
} from './migrate.js';
export { PostgresQueue } from './queue.js';
export { EVENT_TABLES, REQUIRED_TABLES, type StabilizeTables, stabilizeTables, tables } from './schema.js';
export { PostgresWorkflowStore } from './store.js';

/** What `createPostgresBackend` returns. */
export interface PostgresBackend {
  store: PostgresWorkflowStore;
  queue: PostgresQueue;
  /**
   * The event store of the same schema (for `configureEventSourcing`), opened on first access: a
   * backend whose events are never touched holds no extra pool reference. `close()` closes it too.
   */
  readonly events: PostgresEventStore;
  /** Closes the store, the queue and (if it was opened) the event store. */
  close(): Promise<void>;
}

/** A store and a queue (and, on first use, an event store) on one database, sharing its pool. */
export function createPostgresBackend(url: string, options: PostgresOptions = {}): PostgresBackend {
  const store = new PostgresWorkflowStore(url, options);
  const queue = new PostgresQueue(url, options);
  let events: PostgresEventStore | null = null;
  return {
    store,
    queue,
    get events() {
      events ??= new PostgresEventStore(url, options);
      return events;
    },
    async close() {
      await events?.close();
      await queue.close();
      await store.close();
    },
  };
}
