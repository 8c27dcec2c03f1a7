// The event side of the PostgreSQL backend: the SQL `commit` adds for `tx.events`, and
// `PostgresEventStore` (reads, custom appends, snapshots, subscription checkpoints). The tables come
// from the `event_sourcing` migration.
//
// Sequence: `stabilize_event_streams` holds the last sequence of each workflow; a commit upserts it
// (row lock, in workflow id order) and numbers its events from there, in the same statement.
//
// Position: transactions can commit out of the order in which they were given ids, so a position
// taken at INSERT (a BIGSERIAL) could become visible after a larger one a reader has already passed.
// Instead a commit stores its transaction id (`tx_id`, xid8) and leaves `position` NULL; `readAll`
// first *sequences*: one sequencer at a time (a transaction-level advisory lock) gives consecutive
// positions, in (tx_id, id) order, to the events whose transaction is older than every transaction
// still running (the xmin of a fresh snapshot). Such a transaction has ended, and no transaction
// that starts later can get a smaller id, so an event positioned later always gets a larger
// position: a reader that remembers the last position it saw never skips an event. `readAll` returns
// positioned events only; `EventRecord.position` is 0 after commit and append.
//
// Within a workflow, positions follow sequences. xid order alone would not give that: a transaction
// gets its xid at its first write, possibly before it waits for the stream row another transaction
// (with a larger xid) holds, and then takes the later sequence. So the sequencer hands the slots of
// a round, taken in (tx_id, id) order, to each workflow's events in sequence order, and holds a
// workflow's events back behind an earlier one whose transaction is not below the horizon yet (an
// earlier sequence always belongs to a transaction that committed first, under the stream row lock).
import {
  ConcurrencyError,
  type EntityType,
  type EventRecord,
  type EventSnapshot,
  type EventStore,
  parseJson,
  type ReadAllEventsOptions,
  type ReadWorkflowEventsOptions,
} from '@stabilize/core';
import type pg from 'pg';
import { PgBackend, type PostgresOptions, statementName, type TableNames } from './backend.js';
import { isConnectionError, mapPgError } from './errors.js';

/** What `commit` and `append` send for each event (the JSON array `$E` of the event CTEs). */
export function eventDocument(e: EventRecord): Record<string, unknown> {
  return {
    event_id: e.eventId,
    event_type: e.eventType,
    entity_type: e.entityType,
    entity_id: e.entityId,
    workflow_id: e.workflowId,
    version: e.version,
    data: e.data ?? {},
    timestamp: e.timestamp,
    correlation_id: e.correlationId,
    causation_id: e.causationId,
    actor: e.actor,
    source_handler: e.sourceHandler,
    schema_version: e.schemaVersion,
  };
}

/**
 * The two CTEs that write the events of the JSON array `doc` (a `$n::jsonb` reference): `c_ev_seq`
 * reserves the next sequences of each workflow, `c_events` inserts the events (in array order) with
 * theirs and returns `event_id, sequence`.
 */
export function eventCtes(t: TableNames, doc: string): string[] {
  return [
    `c_ev_seq AS (INSERT INTO ${t.eventStreams} AS s (workflow_id, last_sequence)
      SELECT v.workflow_id, count(*) FROM jsonb_to_recordset(${doc}) AS v(workflow_id text)
      GROUP BY v.workflow_id ORDER BY v.workflow_id COLLATE "C"
      ON CONFLICT (workflow_id) DO UPDATE SET last_sequence = s.last_sequence + EXCLUDED.last_sequence
      RETURNING s.workflow_id, s.last_sequence)`,
    `c_events AS (INSERT INTO ${t.events} (event_id, event_type, entity_type, entity_id, workflow_id, sequence, version, data, "timestamp", correlation_id, causation_id, actor, source_handler, schema_version)
      SELECT v.event_id, v.event_type, v.entity_type, v.entity_id, v.workflow_id,
        q.last_sequence - count(*) OVER w + row_number() OVER (w ORDER BY e.ord),
        v.version, COALESCE(v.data, '{}'::jsonb), v."timestamp", v.correlation_id, v.causation_id, COALESCE(v.actor, 'system'), v.source_handler, COALESCE(v.schema_version, 1)
      FROM jsonb_array_elements(${doc}) WITH ORDINALITY AS e(doc, ord)
        CROSS JOIN LATERAL jsonb_to_record(e.doc) AS v(event_id text, event_type text, entity_type text, entity_id text, workflow_id text, version integer, data jsonb, "timestamp" bigint, correlation_id text, causation_id text, actor text, source_handler text, schema_version integer)
        JOIN c_ev_seq q ON q.workflow_id = v.workflow_id
      WINDOW w AS (PARTITION BY v.workflow_id)
      ORDER BY e.ord
      RETURNING event_id, sequence)`,
  ];
}

/** The select-list item (after `eventCtes`) mapping each event id to its sequence. */
export const EVENT_SEQUENCES = `(SELECT coalesce(jsonb_object_agg(event_id, sequence), '{}'::jsonb) FROM c_events)`;

/** Writes the sequences of `EVENT_SEQUENCES` (JSON text) into the records. */
export function assignSequences(events: readonly EventRecord[], json: string | null | undefined): void {
  const sequences = parseJson<Record<string, number>>(json ?? null, 'event sequences of a commit', {});
  for (const e of events) {
    const sequence = sequences[e.eventId];
    if (typeof sequence === 'number') e.sequence = sequence;
  }
}

/** A PostgreSQL unique violation of the event id: the event is already stored. */
export function duplicateEventError(error: unknown): ConcurrencyError | null {
  const { code, constraint, detail } = (error ?? {}) as { code?: string; constraint?: string; detail?: string };
  if (code !== '23505' || constraint !== 'stabilize_events_event_id_key') return null;
  return new ConcurrencyError(`An event is already stored${detail ? `: ${detail}` : ''}`, { cause: error });
}

export interface PostgresEventStoreOptions extends PostgresOptions {
  /**
   * How long (ms) `readAll` waits, polling, for events that were already committed when it was called
   * but cannot be positioned yet because a transaction that began earlier (anywhere on the server)
   * is still open. After that it returns what is positioned; the rest comes in a later call.
   * Default 1000; 0 never waits.
   */
  positionWaitMs?: number;
  /** Events positioned per sequencing transaction. Default 1000. */
  sequenceBatchSize?: number;
}

interface EventRow {
  event_id: string;
  event_type: string;
  entity_type: string;
  entity_id: string;
  workflow_id: string;
  sequence: number;
  version: number;
  data: string | null;
  timestamp: number;
  correlation_id: string;
  causation_id: string | null;
  actor: string;
  source_handler: string | null;
  schema_version: number;
  position: number;
}

const COLUMNS =
  'event_id, event_type, entity_type, entity_id, workflow_id, sequence, version, data, "timestamp", correlation_id, causation_id, actor, source_handler, schema_version, COALESCE(position, 0) AS position';

/** Far above any sequence, time or position a test or a user passes, and exact as a JS number. */
const MAX = Number.MAX_SAFE_INTEGER;

function rowToEvent(row: EventRow): EventRecord {
  const data = parseJson<unknown>(row.data, `stabilize_events ${row.event_id} (column data)`, {});
  return {
    eventId: row.event_id,
    eventType: row.event_type,
    entityType: row.entity_type as EntityType,
    entityId: row.entity_id,
    workflowId: row.workflow_id,
    version: row.version,
    data: data !== null && typeof data === 'object' && !Array.isArray(data) ? (data as Record<string, unknown>) : {},
    timestamp: row.timestamp,
    correlationId: row.correlation_id,
    causationId: row.causation_id,
    actor: row.actor,
    sourceHandler: row.source_handler,
    schemaVersion: row.schema_version,
    sequence: row.sequence,
    position: row.position,
  };
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * Events of a PostgreSQL schema: the same URL (and schema) as the `PostgresWorkflowStore` whose
 * commits write them. Needs the migrations (`stabilize mg-up`); shares the pool of its URL.
 */
export class PostgresEventStore implements EventStore {
  /** @internal */
  readonly backend: PgBackend;
  private readonly positionWaitMs: number;
  private readonly batchSize: number;
  private sqlCache: ReturnType<PostgresEventStore['buildSql']> | null = null;

  constructor(url: string, options: PostgresEventStoreOptions = {}) {
    this.backend = new PgBackend(url, options, 'PostgresEventStore');
    this.positionWaitMs = Math.max(0, options.positionWaitMs ?? 1000);
    this.batchSize = Math.max(1, Math.floor(options.sequenceBatchSize ?? 1000));
  }

  /** The schema holding the tables (resolved on first use when not given). */
  get schema(): string {
    return this.backend.schema;
  }

  private buildSql() {
    const { t } = this.backend;
    return {
      append: `WITH ${eventCtes(t, '$1::jsonb').join(',\n')}\nSELECT ${EVENT_SEQUENCES} AS event_sequences`,
      readWorkflow: `SELECT ${COLUMNS} FROM ${t.events} WHERE workflow_id = $1 AND sequence > $2::bigint AND sequence <= $3::bigint AND "timestamp" <= $4::bigint AND ($5::text[] IS NULL OR event_type = ANY($5::text[])) ORDER BY sequence`,
      readAll: `SELECT ${COLUMNS} FROM ${t.events} WHERE position > $1::bigint AND ($2::text[] IS NULL OR event_type = ANY($2::text[])) AND ($3::text IS NULL OR workflow_id = $3::text) ORDER BY position LIMIT $4::bigint`,
      /** The newest committed event still without a position, among those with id <= $1. */
      pending: `SELECT max(id) AS id FROM ${t.events} WHERE position IS NULL AND id <= $1::bigint`,
      lock: 'SELECT pg_try_advisory_xact_lock(hashtextextended($1, 0)) AS ok',
      // Positions for the committed events below the xid horizon (see the top of this file): the
      // first $1 slots in (tx_id, id) order go to the events of those slots' workflows, each
      // workflow's in sequence order; a workflow's events wait behind an earlier one still above the
      // horizon.
      sequence: `WITH horizon AS (SELECT pg_snapshot_xmin(pg_current_snapshot()) AS xmin),
          base AS (SELECT coalesce(max(position), 0) AS p FROM ${t.events}),
          ready AS (SELECT e.id, e.workflow_id, e.sequence, e.tx_id FROM ${t.events} e, horizon h
                    WHERE e.position IS NULL AND e.tx_id < h.xmin
                      AND NOT EXISTS (SELECT 1 FROM ${t.events} x WHERE x.workflow_id = e.workflow_id AND x.position IS NULL
                                        AND x.sequence < e.sequence AND x.tx_id >= h.xmin)),
          slots AS (SELECT workflow_id, row_number() OVER (ORDER BY tx_id, id) AS slot FROM ready ORDER BY tx_id, id LIMIT $1),
          slot_ranks AS (SELECT workflow_id, slot, row_number() OVER (PARTITION BY workflow_id ORDER BY slot) AS k FROM slots),
          event_ranks AS (SELECT id, workflow_id, row_number() OVER (PARTITION BY workflow_id ORDER BY sequence) AS k FROM ready),
          assigned AS (SELECT r.id, s.slot FROM event_ranks r JOIN slot_ranks s ON s.workflow_id = r.workflow_id AND s.k = r.k)
        UPDATE ${t.events} e SET position = base.p + assigned.slot FROM assigned, base WHERE e.id = assigned.id`,
      saveSnapshot: `INSERT INTO ${t.eventSnapshots} (workflow_id, sequence, state, state_hash, created_at) VALUES ($1, $2, $3::jsonb, $4, $5)
        ON CONFLICT (workflow_id, sequence) DO UPDATE SET state = EXCLUDED.state, state_hash = EXCLUDED.state_hash, created_at = EXCLUDED.created_at`,
      loadSnapshot: `SELECT workflow_id, sequence, state, state_hash, created_at FROM ${t.eventSnapshots} WHERE workflow_id = $1 AND sequence <= $2::bigint ORDER BY sequence DESC LIMIT 1`,
      loadCheckpoint: `SELECT position FROM ${t.eventCheckpoints} WHERE subscription_id = $1`,
      saveCheckpoint: `INSERT INTO ${t.eventCheckpoints} (subscription_id, position, updated_at) VALUES ($1, $2, COALESCE($3::bigint, (extract(epoch from now()) * 1000)::bigint))
        ON CONFLICT (subscription_id) DO UPDATE SET position = EXCLUDED.position, updated_at = EXCLUDED.updated_at`,
    };
  }

  private async sql() {
    await this.backend.ready();
    this.sqlCache ??= this.buildSql();
    return this.sqlCache;
  }

  private async rows<R extends pg.QueryResultRow>(text: string, values: unknown[], operation: string): Promise<R[]> {
    return (await this.backend.raw<R>(text, values, operation, statementName(text))).rows;
  }

  /** Appends in one statement (its own transaction). Returns copies with their sequence; position stays 0 until read. */
  async append(events: EventRecord[]): Promise<EventRecord[]> {
    const sql = await this.sql();
    const copies = events.map((e) => ({ ...e, data: structuredClone(e.data) }));
    if (copies.length === 0) return copies;
    let row: { event_sequences: string | null } | undefined;
    try {
      row = (await this.backend.pool.query<{ event_sequences: string | null }>({ name: statementName(sql.append), text: sql.append, values: [JSON.stringify(copies.map(eventDocument))] })).rows[0];
    } catch (error) {
      throw duplicateEventError(error) ?? mapPgError(error, { schema: this.backend.schema, operation: 'append events' });
    }
    assignSequences(copies, row?.event_sequences);
    for (const e of copies) e.position = 0;
    return copies;
  }

  async readWorkflow(workflowId: string, options: ReadWorkflowEventsOptions = {}): Promise<EventRecord[]> {
    const sql = await this.sql();
    const rows = await this.rows<EventRow>(
      sql.readWorkflow,
      [workflowId, options.afterSequence ?? 0, options.toSequence ?? MAX, options.asOfTime ?? MAX, options.eventTypes === undefined ? null : [...options.eventTypes]],
      'readWorkflow',
    );
    return rows.map(rowToEvent);
  }

  /**
   * Events in position order. First positions the committed events that can be (see the top of this
   * file), waiting up to `positionWaitMs` for those held back by an older open transaction.
   */
  async readAll(options: ReadAllEventsOptions = {}): Promise<EventRecord[]> {
    const sql = await this.sql();
    await this.settle(sql);
    const rows = await this.rows<EventRow>(
      sql.readAll,
      [options.afterPosition ?? 0, options.eventTypes === undefined ? null : [...options.eventTypes], options.workflowId ?? null, Math.max(0, options.limit ?? 1000)],
      'readAll',
    );
    return rows.map(rowToEvent);
  }

  /** Sequences until every event committed before the call has a position, or the wait is over. */
  private async settle(sql: ReturnType<PostgresEventStore['buildSql']>): Promise<void> {
    const deadline = Date.now() + this.positionWaitMs;
    let target = MAX;
    let pause = 2;
    for (let round = 0; ; round++) {
      const pending = (await this.rows<{ id: number | null }>(sql.pending, [target], 'readAll'))[0]?.id ?? null;
      if (pending === null) return;
      if (round > 0) {
        if (Date.now() >= deadline) return;
        await sleep(pause);
        pause = Math.min(pause * 2, 50);
      }
      target = pending;
      await this.sequence(sql);
    }
  }

  /**
   * One sequencer at a time (per schema): each batch in its own transaction under
   * `pg_try_advisory_xact_lock`. When another sequencer holds the lock, returns at once.
   */
  private async sequence(sql: ReturnType<PostgresEventStore['buildSql']>): Promise<void> {
    const { backend } = this;
    let client: pg.PoolClient;
    try {
      client = await backend.pool.connect();
    } catch (error) {
      throw mapPgError(error, { schema: backend.schema, operation: 'readAll' });
    }
    let broken: Error | undefined;
    try {
      for (;;) {
        await client.query('BEGIN');
        const locked = (await client.query<{ ok: boolean }>({ name: statementName(sql.lock), text: sql.lock, values: [`${backend.schema}.stabilize_events`] })).rows[0]?.ok === true;
        if (!locked) {
          await client.query('COMMIT');
          return;
        }
        const positioned = (await client.query({ name: statementName(sql.sequence), text: sql.sequence, values: [this.batchSize] })).rowCount ?? 0;
        await client.query('COMMIT');
        if (positioned < this.batchSize) return;
      }
    } catch (error) {
      if (isConnectionError(error)) broken = error as Error;
      else await client.query('ROLLBACK').catch(() => undefined);
      throw mapPgError(error, { schema: backend.schema, operation: 'readAll' });
    } finally {
      client.release(broken);
    }
  }

  async saveSnapshot(snapshot: EventSnapshot): Promise<void> {
    const sql = await this.sql();
    const state = JSON.stringify(snapshot.state ?? null);
    await this.rows(sql.saveSnapshot, [snapshot.workflowId, snapshot.sequence, state, snapshot.stateHash, snapshot.createdAt], 'saveSnapshot');
  }

  async loadSnapshot(workflowId: string, atOrBeforeSequence?: number): Promise<EventSnapshot | null> {
    const sql = await this.sql();
    const [row] = await this.rows<{ workflow_id: string; sequence: number; state: string; state_hash: string; created_at: number }>(
      sql.loadSnapshot,
      [workflowId, atOrBeforeSequence ?? MAX],
      'loadSnapshot',
    );
    if (!row) return null;
    return {
      workflowId: row.workflow_id,
      sequence: row.sequence,
      state: parseJson<unknown>(row.state, `stabilize_event_snapshots ${row.workflow_id}/${row.sequence} (column state)`, null),
      stateHash: row.state_hash,
      createdAt: row.created_at,
    };
  }

  async loadCheckpoint(subscriptionId: string): Promise<number> {
    const sql = await this.sql();
    const [row] = await this.rows<{ position: number }>(sql.loadCheckpoint, [subscriptionId], 'loadCheckpoint');
    return row?.position ?? 0;
  }

  async saveCheckpoint(subscriptionId: string, position: number): Promise<void> {
    const sql = await this.sql();
    await this.rows(sql.saveCheckpoint, [subscriptionId, position, this.backend.clock ? this.backend.clock.now() : null], 'saveCheckpoint');
  }

  async close(): Promise<void> {
    await this.backend.close();
  }
}
