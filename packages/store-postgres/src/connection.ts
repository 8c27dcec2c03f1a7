import { ConfigurationError } from '@stabilize/core';
import pg from 'pg';
import { NotificationListener } from './notify.js';

const SCHEMA_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** Whether `name` is a plain PostgreSQL identifier we accept as a schema name (≤ 63 characters). */
export function isValidSchemaName(name: string): boolean {
  return name.length <= 63 && SCHEMA_NAME.test(name);
}

export function assertValidSchemaName(name: string): void {
  if (!isValidSchemaName(name)) {
    throw new ConfigurationError(`Invalid schema name: '${name}'. Expected a plain PostgreSQL identifier (letters, digits, underscore; max 63 chars)`);
  }
}

/** `"name"`: only for names that passed `assertValidSchemaName` (they cannot contain quotes). */
export function quoteIdent(name: string): string {
  return `"${name}"`;
}

export interface ParsedPostgresUrl {
  /** The URL handed to node-postgres (the `schema` query parameter removed). */
  connectionString: string;
  /** From `?schema=` (the last one wins), or null. */
  schema: string | null;
}

/**
 * Accepts `postgres://` and `postgresql://` URLs. A `schema` query parameter (ours, not libpq's) is
 * taken out; every other parameter is passed through to node-postgres.
 */
export function parsePostgresUrl(url: string): ParsedPostgresUrl {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new ConfigurationError(`Invalid PostgreSQL URL: ${redactUrl(url)}`);
  }
  if (parsed.protocol !== 'postgres:' && parsed.protocol !== 'postgresql:') {
    throw new ConfigurationError(`Not a PostgreSQL URL (expected postgres:// or postgresql://): ${redactUrl(url)}`);
  }
  const schemas = parsed.searchParams.getAll('schema');
  const schema = schemas.length > 0 ? (schemas[schemas.length - 1] ?? null) : null;
  if (schema !== null) {
    assertValidSchemaName(schema);
    parsed.searchParams.delete('schema');
  }
  return { connectionString: parsed.toString(), schema };
}

/** `postgres://user:***@host/db`: the password (in the authority or a `password=` parameter) hidden. */
export function redactUrl(url: string): string {
  let out = url;
  // Without a scheme (an invalid URL the user typed), still hide "user:secret@" from the start.
  const scheme = /^[a-z][a-z0-9+.-]*:\/\//i.exec(out);
  const start = scheme ? scheme[0].length : 0;
  const query = out.slice(start).search(/[?#]/);
  const end = query < 0 ? out.length : start + query;
  // The last '@' before the query: a password with an unescaped '@' or '/' is still hidden whole.
  const at = out.lastIndexOf('@', end - 1);
  if (at >= start) {
    const colon = out.indexOf(':', start);
    if (colon >= 0 && colon < at) out = `${out.slice(0, colon)}:***${out.slice(at)}`;
  }
  return out.replace(/([?&](?:password|pass|pwd)=)[^&#]*/gi, '$1***');
}

// ---- pools ---------------------------------------------------------------------------------------

const INT8 = 20;
const JSON_OID = 114;
const JSONB = 3802;

/**
 * Type parsers of our pools: BIGINT as a JS number (epoch ms and row ids stay far below 2^53), JSON
 * left as text so `parseJson` (which drops prototype-polluting keys and names the bad row) parses it.
 */
const typeParsers = {
  getTypeParser(oid: number, format?: string) {
    if (oid === INT8) return (value: string) => Number(value);
    if (oid === JSON_OID || oid === JSONB) return (value: string) => value;
    return pg.types.getTypeParser(oid, format as 'text');
  },
} as pg.CustomTypesConfig;

export interface PoolOptions {
  /** Maximum connections of the shared pool (first creator wins). Default 10. */
  poolSize?: number;
  /** How long to wait for a new connection. Default 15 s. */
  connectionTimeoutMs?: number;
}

interface PoolEntry {
  key: string;
  pool: pg.Pool;
  refs: number;
  listener: NotificationListener | null;
  clientConfig: pg.ClientConfig;
}

const pools = new Map<string, PoolEntry>();

/** A reference to a shared pool; `release()` drops it and ends the pool when it was the last one. */
export interface PoolHandle {
  readonly pool: pg.Pool;
  /** The LISTEN connection of this pool, created on first use. */
  listener(): NotificationListener;
  release(): Promise<void>;
}

/** One `pg.Pool` per connection string, shared by every store and queue of this process. */
export function acquirePool(connectionString: string, options: PoolOptions = {}): PoolHandle {
  let entry = pools.get(connectionString);
  if (!entry) {
    // node-postgres lets URL parameters override the config object, so take application_name out
    // of the URL: the pool uses it as given (default 'stabilize'), the LISTEN connection adds '-listener'.
    const url = new URL(connectionString);
    const applicationName = url.searchParams.get('application_name') || 'stabilize';
    url.searchParams.delete('application_name');
    // Our statements are prepared once per connection and differ only in their parameters (mostly
    // JSON documents the planner cannot look into): a generic plan is as good and saves re-planning
    // the commit statement on every call (about 20% of its cost). Appended to the URL's own options.
    const startupOptions = [url.searchParams.get('options'), '-c plan_cache_mode=force_generic_plan'].filter(Boolean).join(' ');
    url.searchParams.delete('options');
    const clientConfig: pg.ClientConfig = {
      connectionString: url.toString(),
      options: startupOptions,
      types: typeParsers,
      application_name: applicationName,
      connectionTimeoutMillis: options.connectionTimeoutMs ?? 15_000,
      keepAlive: true,
    };
    const pool = new pg.Pool({ ...clientConfig, max: options.poolSize ?? 10, idleTimeoutMillis: 30_000 });
    // An idle client whose connection dies emits 'error' on the pool; without a listener the process
    // would crash. The pool drops that client; the next query opens a new connection.
    pool.on('error', () => undefined);
    entry = { key: connectionString, pool, refs: 0, listener: null, clientConfig };
    pools.set(connectionString, entry);
  }
  const e = entry;
  e.refs++;
  let released = false;
  return {
    pool: e.pool,
    listener() {
      e.listener ??= new NotificationListener({ ...e.clientConfig, application_name: `${e.clientConfig.application_name}-listener` });
      return e.listener;
    },
    async release() {
      if (released) return;
      released = true;
      e.refs--;
      if (e.refs > 0) return;
      pools.delete(e.key);
      await e.listener?.close();
      await e.pool.end().catch(() => undefined);
    },
  };
}

/** Number of live shared pools (for tests). */
export function sharedPoolCount(): number {
  return pools.size;
}
