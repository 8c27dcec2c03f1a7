import type { Clock } from '@stabilize/core';
import type { SqliteConnectionOptions } from './connection.js';

/** Options of `SqliteWorkflowStore`, `SqliteQueue` and `openSqliteBackend`. */
export interface SqliteOptions extends SqliteConnectionOptions {
  /** Source of every timestamp (UTC epoch ms). Default `systemClock`; tests inject a ManualClock. */
  clock?: Clock;
  /**
   * Create the tables (CREATE TABLE IF NOT EXISTS) when opening. Default true. The queue always
   * creates its own two tables; with this flag it creates the store's tables too.
   */
  createTables?: boolean;
}
