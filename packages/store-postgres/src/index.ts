// @stabilize/store-postgres: the PostgreSQL WorkflowStore and Queue, and the migrations behind
// `stabilize mg-up` / `stabilize mg-status`.
import type { PostgresOptions } from './backend.js';
import { PostgresQueue } from './queue.js';
import { PostgresWorkflowStore } from './store.js';

export type { PostgresOptions } from './backend.js';
export { assertValidSchemaName, isValidSchemaName, parsePostgresUrl, type ParsedPostgresUrl, redactUrl, sharedPoolCount } from './connection.js';
export { isAuthenticationError, isConnectionError, isDatabaseMissingError, mapPgError } from './errors.js';
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
export { REQUIRED_TABLES, type StabilizeTables, stabilizeTables, tables } from './schema.js';
export { PostgresWorkflowStore } from './store.js';

/** A store and a queue on one database (sharing its pool); close both when done. */
export function createPostgresBackend(url: string, options: PostgresOptions = {}): { store: PostgresWorkflowStore; queue: PostgresQueue } {
  return { store: new PostgresWorkflowStore(url, options), queue: new PostgresQueue(url, options) };
}
