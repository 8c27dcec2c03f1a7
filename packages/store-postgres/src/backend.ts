import { createHash } from 'node:crypto';
import { type Clock, ConfigurationError, StabilizeError } from '@stabilize/core';
import type pg from 'pg';
import { acquirePool, assertValidSchemaName, type PoolHandle, parsePostgresUrl, quoteIdent } from './connection.js';
import { mapPgError, missingSchemaMessage } from './errors.js';
import { bundledMigrationNames } from './migrate.js';
import { queueChannel } from './notify.js';
import { REQUIRED_TABLES } from './schema.js';

export interface PostgresOptions {
  /** Schema holding the tables. Default: `?schema=` of the URL, else the connection's current schema. */
  schema?: string;
  /**
   * Source of every timestamp. Default: the database clock (`now()`), so workers with skewed clocks
   * agree. Inject one (e.g. core's ManualClock) in tests: then all times come from it.
   */
  clock?: Clock;
  /** Connections of the shared pool for this URL (the first store or queue to open it decides). Default 10. */
  poolSize?: number;
}

/** Qualified table names of one schema. */
export interface TableNames {
  workflows: string;
  stages: string;
  requisites: string;
  tasks: string;
  queue: string;
  dlq: string;
  claims: string;
  claimWaiters: string;
  migrations: string;
  assert: string;
  events: string;
  eventStreams: string;
  eventSnapshots: string;
  eventCheckpoints: string;
}

/**
 * What a PostgreSQL store and queue share: the pooled connection, the schema, the clock. Checks once
 * (lazily) that the migrations were applied, and maps driver errors to the engine's error types.
 */
export class PgBackend {
  readonly handle: PoolHandle;
  readonly pool: pg.Pool;
  readonly clock: Clock | null;
  private readonly explicitSchema: string | null;
  private resolvedSchema: string | null = null;
  private readyPromise: Promise<void> | null = null;
  private closed = false;
  t!: TableNames;
  channel!: string;

  constructor(
    url: string,
    options: PostgresOptions,
    private readonly kind: string,
  ) {
    const parsed = parsePostgresUrl(url);
    this.explicitSchema = options.schema ?? parsed.schema;
    if (this.explicitSchema !== null) assertValidSchemaName(this.explicitSchema);
    this.clock = options.clock ?? null;
    this.handle = acquirePool(parsed.connectionString, { poolSize: options.poolSize });
    this.pool = this.handle.pool;
  }

  get schema(): string {
    return this.resolvedSchema ?? this.explicitSchema ?? 'public';
  }

  /** Resolves the schema and verifies the tables exist (once; retried after a failure). */
  ready(): Promise<void> {
    if (this.closed) return Promise.reject(new StabilizeError(`${this.kind} is closed`));
    if (!this.readyPromise) {
      this.readyPromise = this.init().catch((error) => {
        this.readyPromise = null;
        throw error;
      });
    }
    return this.readyPromise;
  }

  private async init(): Promise<void> {
    let schema = this.explicitSchema;
    if (schema === null) {
      const row = (await this.raw<{ schema: string | null }>('SELECT current_schema() AS schema', [], 'connect')).rows[0];
      if (!row?.schema) throw new ConfigurationError('The PostgreSQL connection has no current schema (empty search_path); pass a schema');
      schema = row.schema;
      assertValidSchemaName(schema);
    }
    this.resolvedSchema = schema;
    const s = quoteIdent(schema);
    this.t = {
      workflows: `${s}.pipeline_executions`,
      stages: `${s}.stage_executions`,
      requisites: `${s}.stage_requisites`,
      tasks: `${s}.task_executions`,
      queue: `${s}.queue_messages`,
      dlq: `${s}.queue_messages_dlq`,
      claims: `${s}.stage_claims`,
      claimWaiters: `${s}.stage_claim_waiters`,
      migrations: `${s}.stabilize_migrations`,
      assert: `${s}.stabilize_assert`,
      events: `${s}.stabilize_events`,
      eventStreams: `${s}.stabilize_event_streams`,
      eventSnapshots: `${s}.stabilize_event_snapshots`,
      eventCheckpoints: `${s}.stabilize_event_checkpoints`,
    };
    this.channel = queueChannel(schema);
    const found = (
      await this.raw<{ relname: string }>(
        `SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1 AND c.relname = ANY($2::text[])`,
        [schema, REQUIRED_TABLES],
        'connect',
      )
    ).rows.map((r) => r.relname);
    const missing = REQUIRED_TABLES.filter((t) => !found.includes(t));
    if (missing.length > 0) throw new ConfigurationError(missingSchemaMessage(schema, `missing: ${missing.join(', ')}`));
    const applied = new Set((await this.raw<{ name: string }>(`SELECT name FROM ${this.t.migrations}`, [], 'connect')).rows.map((r) => r.name));
    const pending = bundledMigrationNames().filter((n) => !applied.has(n));
    if (pending.length > 0) throw new ConfigurationError(missingSchemaMessage(schema, `pending migrations: ${pending.join(', ')}`));
  }

  /** `now()` or, with an injected clock, a parameter holding its time. */
  nowParam(): string | null {
    return this.clock ? new Date(this.clock.now()).toISOString() : null;
  }

  /** Runs one statement on the pool, mapping errors. Hot statements pass `name` to be prepared once per connection. */
  async raw<R extends pg.QueryResultRow = pg.QueryResultRow>(text: string, values: unknown[], operation: string, name?: string): Promise<pg.QueryResult<R>> {
    try {
      return await this.pool.query<R>(name ? { name, text, values } : { text, values });
    } catch (error) {
      throw mapPgError(error, { schema: this.schema, operation });
    }
  }

  /** `raw` after `ready()`. */
  async query<R extends pg.QueryResultRow = pg.QueryResultRow>(text: string, values: unknown[], operation: string, name?: string): Promise<pg.QueryResult<R>> {
    await this.ready();
    return this.raw<R>(text, values, operation, name);
  }

  /** Wakes idle workers of this process at once (other processes hear the NOTIFY). */
  wakeLocal(): void {
    this.handle.listener().wake(this.channel);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.handle.release();
  }
}

/** A stable prepared-statement name for a statement text. */
export function statementName(text: string): string {
  return `stz_${createHash('sha1').update(text).digest('hex').slice(0, 20)}`;
}
