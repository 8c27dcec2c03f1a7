// The event side of the SQLite backend: the event tables, the writer `SqliteWorkflowStore.commit`
// calls inside its transaction, and `SqliteEventStore` (reads, custom appends, snapshots,
// subscription checkpoints). The tables are created on first use of event sourcing only: a
// SqliteEventStore, or the first commit that carries events. A database whose engine never records
// events has no event tables and no event rows.
//
// Ordering: `position` is an AUTOINCREMENT rowid assigned inside the write transaction. SQLite has
// one writer at a time (BEGIN IMMEDIATE), so positions become visible in commit order and a reader
// that remembers the last position it saw can never miss a later-committed smaller one. `sequence`
// is the 1-based position of the event within its workflow, assigned in the same transaction.
import {
  ConcurrencyError,
  type EntityType,
  type EventRecord,
  type EventSnapshot,
  type EventStore,
  type ReadAllEventsOptions,
  type ReadWorkflowEventsOptions,
  StabilizeError,
} from '@stabilize/core';
import Database from 'better-sqlite3';
import { acquireConnection, releaseConnection, type SqliteConnection } from './connection.js';
import type { SqliteOptions } from './options.js';
import { toJson } from './rows.js';

export const EVENTS_DDL = `
CREATE TABLE IF NOT EXISTS stabilize_events (
  position INTEGER PRIMARY KEY AUTOINCREMENT,
  event_id TEXT NOT NULL UNIQUE,
  event_type TEXT NOT NULL,
  entity_type TEXT NOT NULL,
  entity_id TEXT NOT NULL,
  workflow_id TEXT NOT NULL,
  sequence INTEGER NOT NULL,
  version INTEGER NOT NULL DEFAULT 0,
  data TEXT NOT NULL DEFAULT '{}',
  timestamp INTEGER NOT NULL,
  correlation_id TEXT NOT NULL,
  causation_id TEXT,
  actor TEXT NOT NULL DEFAULT 'system',
  source_handler TEXT,
  schema_version INTEGER NOT NULL DEFAULT 1,
  UNIQUE (workflow_id, sequence)
);
CREATE INDEX IF NOT EXISTS idx_stabilize_events_type ON stabilize_events (event_type, position);

CREATE TABLE IF NOT EXISTS stabilize_event_snapshots (
  workflow_id TEXT NOT NULL,
  sequence INTEGER NOT NULL,
  state TEXT NOT NULL,
  state_hash TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  PRIMARY KEY (workflow_id, sequence)
);

CREATE TABLE IF NOT EXISTS stabilize_event_checkpoints (
  subscription_id TEXT PRIMARY KEY NOT NULL,
  position INTEGER NOT NULL,
  updated_at INTEGER NOT NULL
);
`;

export const EVENT_TABLES = ['stabilize_events', 'stabilize_event_snapshots', 'stabilize_event_checkpoints'] as const;

const COLUMNS =
  'position, event_id AS eventId, event_type AS eventType, entity_type AS entityType, entity_id AS entityId, workflow_id AS workflowId, sequence, version, data, timestamp, correlation_id AS correlationId, causation_id AS causationId, actor, source_handler AS sourceHandler, schema_version AS schemaVersion';

/** The SQL of the event store, prepared once per connection. Exported for the query-plan test. */
export const EVENT_SQL = {
  lastSequence: 'SELECT COALESCE(MAX(sequence), 0) AS n FROM stabilize_events WHERE workflow_id = ?',
  insert:
    'INSERT INTO stabilize_events (event_id, event_type, entity_type, entity_id, workflow_id, sequence, version, data, timestamp, correlation_id, causation_id, actor, source_handler, schema_version) VALUES (@eventId, @eventType, @entityType, @entityId, @workflowId, @sequence, @version, @data, @timestamp, @correlationId, @causationId, @actor, @sourceHandler, @schemaVersion)',
  readWorkflow: `SELECT ${COLUMNS} FROM stabilize_events WHERE workflow_id = @workflowId AND sequence > @after AND sequence <= @to AND timestamp <= @asOf AND (@types IS NULL OR event_type IN (SELECT value FROM json_each(@types))) ORDER BY sequence`,
  readAll: `SELECT ${COLUMNS} FROM stabilize_events WHERE position > @after AND (@types IS NULL OR event_type IN (SELECT value FROM json_each(@types))) AND (@workflowId IS NULL OR workflow_id = @workflowId) ORDER BY position LIMIT @limit`,
  readAllOfWorkflow: `SELECT ${COLUMNS} FROM stabilize_events WHERE workflow_id = @workflowId AND position > @after AND (@types IS NULL OR event_type IN (SELECT value FROM json_each(@types))) ORDER BY position LIMIT @limit`,
  saveSnapshot: 'INSERT OR REPLACE INTO stabilize_event_snapshots (workflow_id, sequence, state, state_hash, created_at) VALUES (?, ?, ?, ?, ?)',
  loadSnapshot:
    'SELECT workflow_id AS workflowId, sequence, state, state_hash AS stateHash, created_at AS createdAt FROM stabilize_event_snapshots WHERE workflow_id = ? AND sequence <= ? ORDER BY sequence DESC LIMIT 1',
  loadCheckpoint: 'SELECT position FROM stabilize_event_checkpoints WHERE subscription_id = ?',
  saveCheckpoint:
    'INSERT INTO stabilize_event_checkpoints (subscription_id, position, updated_at) VALUES (?, ?, ?) ON CONFLICT (subscription_id) DO UPDATE SET position = excluded.position, updated_at = excluded.updated_at',
} as const;

/** Connections whose event tables are known to be committed. */
const ready = new WeakSet<SqliteConnection>();

function tablesExist(conn: SqliteConnection): boolean {
  const found = conn.db.prepare(`SELECT COUNT(*) AS n FROM sqlite_master WHERE type = 'table' AND name IN (${EVENT_TABLES.map(() => '?').join(', ')})`).get(...EVENT_TABLES) as { n: number };
  return found.n === EVENT_TABLES.length;
}

/** Creates the event tables (own write transaction). */
export function ensureEventTables(conn: SqliteConnection): void {
  if (ready.has(conn)) return;
  conn.write(() => conn.db.exec(EVENTS_DDL));
  ready.add(conn);
}

/**
 * Writes `events` inside the caller's open write transaction: assigns each its per-workflow sequence
 * and global position and writes both back into the records. A duplicate event id throws
 * ConcurrencyError (the transaction rolls back). Creates the tables on first use; that DDL is part
 * of the transaction, so it is only trusted once a later call finds it committed.
 */
export function writeEventRecords(conn: SqliteConnection, events: readonly EventRecord[]): void {
  if (events.length === 0) return;
  if (!ready.has(conn)) {
    if (tablesExist(conn)) ready.add(conn);
    else conn.db.exec(EVENTS_DDL);
  }
  const lastSequence = conn.statement(EVENT_SQL.lastSequence);
  const insert = conn.statement(EVENT_SQL.insert);
  const next = new Map<string, number>();
  for (const event of events) {
    const sequence = (next.get(event.workflowId) ?? (lastSequence.get(event.workflowId) as { n: number }).n) + 1;
    next.set(event.workflowId, sequence);
    let position: number | bigint;
    try {
      position = insert.run({
        eventId: event.eventId,
        eventType: event.eventType,
        entityType: event.entityType,
        entityId: event.entityId,
        workflowId: event.workflowId,
        sequence,
        version: event.version,
        data: toJson(event.data ?? {}, `data of event ${event.eventId}`),
        timestamp: event.timestamp,
        correlationId: event.correlationId,
        causationId: event.causationId,
        actor: event.actor,
        sourceHandler: event.sourceHandler,
        schemaVersion: event.schemaVersion,
      }).lastInsertRowid;
    } catch (error) {
      if (error instanceof Database.SqliteError && error.code === 'SQLITE_CONSTRAINT_UNIQUE' && /event_id/.test(error.message)) {
        throw new ConcurrencyError(`Event ${event.eventId} is already stored`, { cause: error });
      }
      throw error;
    }
    event.sequence = sequence;
    event.position = Number(position);
  }
}

interface EventRow extends Omit<EventRecord, 'data' | 'entityType'> {
  data: string;
  entityType: string;
}

function rowToEvent(row: EventRow): EventRecord {
  let data: Record<string, unknown>;
  try {
    const parsed = JSON.parse(row.data) as unknown;
    data = parsed !== null && typeof parsed === 'object' && !Array.isArray(parsed) ? (parsed as Record<string, unknown>) : {};
  } catch {
    throw new StabilizeError(`stabilize_events row ${row.position}: data is not valid JSON`);
  }
  return {
    eventId: row.eventId,
    eventType: row.eventType,
    entityType: row.entityType as EntityType,
    entityId: row.entityId,
    workflowId: row.workflowId,
    version: row.version,
    data,
    timestamp: row.timestamp,
    correlationId: row.correlationId,
    causationId: row.causationId,
    actor: row.actor,
    sourceHandler: row.sourceHandler,
    schemaVersion: row.schemaVersion,
    sequence: row.sequence,
    position: row.position,
  };
}

const typesParam = (types: readonly string[] | undefined): string | null => (types === undefined ? null : JSON.stringify(types));

/**
 * Events of a SQLite database: the same file (and connection) as the `SqliteWorkflowStore` whose
 * commits write them. Opening one creates the event tables (unless `createTables: false`).
 */
export class SqliteEventStore implements EventStore {
  private readonly conn: SqliteConnection;
  private readonly now: () => number;
  private closed = false;

  constructor(url: string, options: SqliteOptions = {}) {
    this.conn = acquireConnection(url, options);
    this.now = () => (options.clock ?? { now: Date.now }).now();
    try {
      if (options.createTables !== false) ensureEventTables(this.conn);
    } catch (error) {
      releaseConnection(this.conn);
      throw error;
    }
  }

  private open(): SqliteConnection {
    if (this.closed) throw new StabilizeError('SqliteEventStore is closed');
    return this.conn;
  }

  async append(events: EventRecord[]): Promise<EventRecord[]> {
    const conn = this.open();
    const copies = events.map((e) => ({ ...e, data: structuredClone(e.data) }));
    conn.write(() => writeEventRecords(conn, copies));
    return copies;
  }

  async readWorkflow(workflowId: string, options: ReadWorkflowEventsOptions = {}): Promise<EventRecord[]> {
    const rows = this.open()
      .statement(EVENT_SQL.readWorkflow)
      .all({
        workflowId,
        after: options.afterSequence ?? 0,
        to: options.toSequence ?? Number.MAX_SAFE_INTEGER,
        asOf: options.asOfTime ?? Number.MAX_SAFE_INTEGER,
        types: typesParam(options.eventTypes),
      }) as EventRow[];
    return rows.map(rowToEvent);
  }

  /**
   * Events in position order. Only committed events are returned: a group-commit batch still open
   * on this connection is committed first, so a subscriber never acts on an event a crash could
   * still take back.
   */
  async readAll(options: ReadAllEventsOptions = {}): Promise<EventRecord[]> {
    const conn = this.open();
    conn.flush();
    const params = { after: options.afterPosition ?? 0, types: typesParam(options.eventTypes), limit: Math.max(0, options.limit ?? 1000) };
    const rows = (
      options.workflowId === undefined
        ? conn.statement(EVENT_SQL.readAll).all({ ...params, workflowId: null })
        : conn.statement(EVENT_SQL.readAllOfWorkflow).all({ ...params, workflowId: options.workflowId })
    ) as EventRow[];
    return rows.map(rowToEvent);
  }

  async saveSnapshot(snapshot: EventSnapshot): Promise<void> {
    const conn = this.open();
    const state = toJson(snapshot.state, `snapshot of workflow ${snapshot.workflowId}`);
    conn.write(() => conn.statement(EVENT_SQL.saveSnapshot).run(snapshot.workflowId, snapshot.sequence, state, snapshot.stateHash, snapshot.createdAt));
  }

  async loadSnapshot(workflowId: string, atOrBeforeSequence?: number): Promise<EventSnapshot | null> {
    const row = this.open()
      .statement(EVENT_SQL.loadSnapshot)
      .get(workflowId, atOrBeforeSequence ?? Number.MAX_SAFE_INTEGER) as (Omit<EventSnapshot, 'state'> & { state: string }) | undefined;
    if (!row) return null;
    return { workflowId: row.workflowId, sequence: row.sequence, state: JSON.parse(row.state) as unknown, stateHash: row.stateHash, createdAt: row.createdAt };
  }

  async loadCheckpoint(subscriptionId: string): Promise<number> {
    const row = this.open().statement(EVENT_SQL.loadCheckpoint).get(subscriptionId) as { position: number } | undefined;
    return row?.position ?? 0;
  }

  async saveCheckpoint(subscriptionId: string, position: number): Promise<void> {
    const conn = this.open();
    conn.write(() => conn.statement(EVENT_SQL.saveCheckpoint).run(subscriptionId, position, this.now()));
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    releaseConnection(this.conn);
  }
}
