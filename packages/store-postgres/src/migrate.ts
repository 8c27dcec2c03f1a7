// The migration runner behind `stabilize mg-up` / `stabilize mg-status`. Migrations are the SQL
// files in `migrations/`, named `<ULID>_<snake_name>.sql`, with `-- migrate: up` and
// `-- migrate: down` sections; they are applied in name order (ULIDs sort by time), each in its own
// transaction together with its row in `stabilize_migrations`, under an advisory lock.
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ConfigurationError, StabilizeError } from '@stabilize/core';
import pg from 'pg';
import { assertValidSchemaName, parsePostgresUrl, quoteIdent } from './connection.js';

/** The directory holding the packaged migration files. */
export const MIGRATIONS_DIR = fileURLToPath(new URL('../migrations/', import.meta.url));

const FILE_NAME = /^[0-9A-HJKMNP-TV-Z]{26}_[a-z0-9_]+\.sql$/;

export interface MigrationFile {
  /** File name without `.sql`, e.g. `01M89WHCC9GJKRCQMTV10VVA52_initial_schema`. */
  name: string;
  /** sha256 hex of the whole file. */
  checksum: string;
  up: string;
  down: string;
}

/** Splits a migration file into its up and down sections (no markers: the whole file is "up"). */
export function parseMigration(text: string): { up: string; down: string } {
  const upMarker = /^[ \t]*--[ \t]*migrate:[ \t]*up[ \t]*$/im.exec(text);
  const downMarker = /^[ \t]*--[ \t]*migrate:[ \t]*down[ \t]*$/im.exec(text);
  if (!upMarker) return { up: text.trim(), down: '' };
  const upStart = upMarker.index + upMarker[0].length;
  const upEnd = downMarker && downMarker.index > upMarker.index ? downMarker.index : text.length;
  const down = downMarker && downMarker.index > upMarker.index ? text.slice(downMarker.index + downMarker[0].length).trim() : '';
  return { up: text.slice(upStart, upEnd).trim(), down };
}

export function migrationChecksum(text: string | Buffer): string {
  return createHash('sha256').update(text).digest('hex');
}

/** Every migration file of `dir`, sorted by name. Throws ConfigurationError on a misnamed `.sql` file. */
export function loadMigrations(dir: string = MIGRATIONS_DIR): MigrationFile[] {
  const files = readdirSync(dir)
    .filter((f) => f.endsWith('.sql'))
    .sort();
  return files.map((file) => {
    if (!FILE_NAME.test(file)) throw new ConfigurationError(`Migration file '${file}' is not named <ULID>_<snake_name>.sql`);
    const bytes = readFileSync(join(dir, file));
    return { name: file.slice(0, -'.sql'.length), checksum: migrationChecksum(bytes), ...parseMigration(bytes.toString('utf8')) };
  });
}

let bundledNames: string[] | null = null;

/** Names of the packaged migrations (cached). */
export function bundledMigrationNames(): string[] {
  bundledNames ??= loadMigrations().map((m) => m.name);
  return bundledNames;
}

/** A migration failed to apply; it was rolled back, earlier ones stay applied. */
export class MigrationError extends StabilizeError {
  constructor(
    message: string,
    readonly migration: string | null,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    Object.defineProperty(this, 'code', { value: 'MIGRATION_FAILED', enumerable: true });
  }
}

/** Whether `STABILIZE_STRICT_MIGRATIONS` asks for checksum mismatches to be errors. */
export function strictMigrationsFromEnv(env: NodeJS.ProcessEnv = process.env): boolean {
  return /^(1|true|yes|on)$/i.test((env.STABILIZE_STRICT_MIGRATIONS ?? '').trim());
}

export interface MigrateOptions {
  /** Target schema (created if missing). Default: `?schema=` of the URL, else the connection's current schema. */
  schema?: string;
  /** Checksum mismatches are errors. Default: `STABILIZE_STRICT_MIGRATIONS`. */
  strict?: boolean;
  /** Progress lines (`Applying: <name>`, warnings). */
  log?: (line: string) => void;
  /** Where the migration files are. Default: the packaged ones. */
  migrationsDir?: string;
  connectionTimeoutMs?: number;
}

export interface MigrateResult {
  schema: string;
  /** Names applied by this run, in order. */
  applied: string[];
  /** Number of migrations that were already applied. */
  alreadyApplied: number;
  /** Applied migrations whose file changed since. */
  mismatches: string[];
}

export type MigrationState = 'applied' | 'pending' | 'mismatch' | 'unknown';

export interface MigrationStatusEntry {
  name: string;
  /** `unknown`: recorded in the database but not among the packaged files (a newer version ran). */
  state: MigrationState;
  appliedAt: Date | null;
}

export interface MigrationStatus {
  schema: string;
  /** False when `stabilize_migrations` does not exist (nothing was ever applied). */
  initialized: boolean;
  entries: MigrationStatusEntry[];
}

function target(url: string, schema: string | undefined): { connectionString: string; schema: string | null } {
  const parsed = parsePostgresUrl(url);
  const chosen = schema ?? parsed.schema;
  if (chosen !== null) assertValidSchemaName(chosen);
  return { connectionString: parsed.connectionString, schema: chosen };
}

async function connect(connectionString: string, timeoutMs: number | undefined): Promise<pg.Client> {
  const client = new pg.Client({ connectionString, application_name: 'stabilize-migrate', connectionTimeoutMillis: timeoutMs ?? 15_000 });
  client.on('error', () => undefined);
  await client.connect();
  return client;
}

const LOCK_NAMESPACE = 'stabilize_migrations';

/** Applies every pending migration. Safe to run concurrently (advisory lock) and repeatedly (no-op). */
export async function migrate(url: string, options: MigrateOptions = {}): Promise<MigrateResult> {
  const { connectionString, schema: requested } = target(url, options.schema);
  const log = options.log ?? (() => undefined);
  const strict = options.strict ?? strictMigrationsFromEnv();
  const migrations = loadMigrations(options.migrationsDir);
  const client = await connect(connectionString, options.connectionTimeoutMs);
  try {
    const schema = requested ?? (await currentSchema(client));
    // One lock per schema: two `mg-up` on one schema run one after the other; the second finds
    // everything applied. Session-level, so it survives the per-migration COMMITs.
    await client.query('SELECT pg_advisory_lock(hashtext($1), hashtext($2))', [LOCK_NAMESPACE, schema]);
    try {
      if (requested !== null) {
        const exists = (await client.query('SELECT 1 FROM pg_namespace WHERE nspname = $1', [requested])).rowCount;
        if (!exists) await client.query(`CREATE SCHEMA IF NOT EXISTS ${quoteIdent(requested)}`);
        log(`Target schema: ${requested}`);
      }
      await client.query(`SET search_path TO ${quoteIdent(schema)}`);
      await client.query(
        `CREATE TABLE IF NOT EXISTS stabilize_migrations (
           id INTEGER GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
           name TEXT NOT NULL UNIQUE,
           checksum TEXT NOT NULL,
           applied_at TIMESTAMPTZ NOT NULL DEFAULT now())`,
      );
      const rows = (await client.query<{ name: string; checksum: string }>('SELECT name, checksum FROM stabilize_migrations')).rows;
      const applied = new Map(rows.map((r) => [r.name, r.checksum]));
      const result: MigrateResult = { schema, applied: [], alreadyApplied: 0, mismatches: [] };
      for (const m of migrations) {
        const checksum = applied.get(m.name);
        if (checksum !== undefined) {
          result.alreadyApplied++;
          if (checksum !== m.checksum) {
            result.mismatches.push(m.name);
            if (strict) throw new MigrationError(`Checksum mismatch for ${m.name}: the file changed after it was applied (STABILIZE_STRICT_MIGRATIONS is set)`, m.name);
            log(`Warning: Checksum mismatch for ${m.name} (the file changed after it was applied)`);
          }
          continue;
        }
        log(`Applying: ${m.name}`);
        try {
          await client.query('BEGIN');
          if (m.up.length > 0) await client.query(m.up);
          await client.query('INSERT INTO stabilize_migrations (name, checksum) VALUES ($1, $2)', [m.name, m.checksum]);
          await client.query('COMMIT');
        } catch (error) {
          await client.query('ROLLBACK').catch(() => undefined);
          throw new MigrationError(`Migration ${m.name} failed and was rolled back: ${(error as Error).message}`, m.name, { cause: error });
        }
        result.applied.push(m.name);
      }
      return result;
    } finally {
      await client.query('SELECT pg_advisory_unlock(hashtext($1), hashtext($2))', [LOCK_NAMESPACE, schema]).catch(() => undefined);
    }
  } finally {
    await client.end().catch(() => undefined);
  }
}

async function currentSchema(client: pg.Client): Promise<string> {
  const row = (await client.query<{ schema: string | null }>('SELECT current_schema() AS schema')).rows[0];
  if (!row?.schema) throw new ConfigurationError('The connection has no current schema (empty search_path); pass a schema');
  return row.schema;
}

/** Which packaged migrations are applied, pending or changed. Read-only: creates nothing. */
export async function migrationStatus(url: string, options: Omit<MigrateOptions, 'strict' | 'log'> = {}): Promise<MigrationStatus> {
  const { connectionString, schema: requested } = target(url, options.schema);
  const migrations = loadMigrations(options.migrationsDir);
  const client = await connect(connectionString, options.connectionTimeoutMs);
  try {
    const schema = requested ?? (await currentSchema(client));
    const exists = (await client.query<{ t: string | null }>('SELECT to_regclass($1) AS t', [`${quoteIdent(schema)}.stabilize_migrations`])).rows[0]?.t;
    const rows = exists
      ? (await client.query<{ name: string; checksum: string; applied_at: Date }>(`SELECT name, checksum, applied_at FROM ${quoteIdent(schema)}.stabilize_migrations ORDER BY applied_at, id`)).rows
      : [];
    const applied = new Map(rows.map((r) => [r.name, r]));
    const entries: MigrationStatusEntry[] = migrations.map((m) => {
      const row = applied.get(m.name);
      if (!row) return { name: m.name, state: 'pending', appliedAt: null };
      return { name: m.name, state: row.checksum === m.checksum ? 'applied' : 'mismatch', appliedAt: row.applied_at };
    });
    const known = new Set(migrations.map((m) => m.name));
    for (const row of rows) if (!known.has(row.name)) entries.push({ name: row.name, state: 'unknown', appliedAt: row.applied_at });
    return { schema, initialized: Boolean(exists), entries };
  } finally {
    await client.end().catch(() => undefined);
  }
}
