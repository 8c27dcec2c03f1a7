// @stabilize/store-sqlite: the embedded SQLite backend (better-sqlite3 + drizzle-orm).
export { openSqliteBackend, type SqliteBackend } from './backend.js';
export type { SqliteConnectionOptions } from './connection.js';
export { QUEUE_DDL, STORE_DDL } from './ddl.js';
export { EVENT_SQL, EVENT_TABLES, EVENTS_DDL, SqliteEventStore } from './events.js';
export type { SqliteOptions } from './options.js';
export { SqliteQueue } from './queue.js';
export * as schema from './schema.js';
export { SqliteWorkflowStore } from './store.js';
export { parseSqliteUrl, type SqliteLocation } from './url.js';
