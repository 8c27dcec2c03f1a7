// Where the migration commands find their database, first hit wins:
//   1. --db-url URL             (MG_SCHEMA is NOT applied, as upstream)
//   2. env MG_DATABASE_URL      (then MG_SCHEMA, when set, overrides the schema)
//   3. ./mg.yaml                (`database: {host, port, user, password, dbname, schema?}`; then MG_SCHEMA)
// A schema comes from `?schema=` in the URL, `schema:` in mg.yaml, or MG_SCHEMA.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { isValidSchemaName } from '@stabilize/store-postgres';
import { parse as parseYaml } from 'yaml';
import { ExitCode } from './exit-codes.js';
import { redactUrl } from './redact.js';

export type ConfigSource = '--db-url' | 'MG_DATABASE_URL' | 'mg.yaml';

export interface PostgresConfig {
  kind: 'postgres';
  /** Connection URL without the `schema` parameter (the password included: never print it). */
  url: string;
  schema: string | null;
  source: ConfigSource;
  host: string;
  port: number;
  user: string;
  database: string;
  /** For scrubbing messages; never print it. */
  password: string;
  /** The URL with the password hidden, for messages. */
  display: string;
}

export interface SqliteConfig {
  kind: 'sqlite';
  url: string;
  /** The database file (or `:memory:`). */
  path: string;
  source: ConfigSource;
  display: string;
}

export type DatabaseConfig = PostgresConfig | SqliteConfig;

/** A configuration problem: the message to print, a hint line, and the exit code. */
export class CliConfigError extends Error {
  constructor(
    message: string,
    readonly exitCode: ExitCode,
    readonly hint?: string,
  ) {
    super(message);
    this.name = 'CliConfigError';
  }
}

const SCHEMA_HINT = 'Expected a plain PostgreSQL identifier (letters, digits, underscore; max 63 chars)';

function checkSchema(schema: string | null): string | null {
  if (schema === null) return null;
  if (!isValidSchemaName(schema)) throw new CliConfigError(`Invalid schema name: '${schema}'`, ExitCode.INVALID_CONFIG, SCHEMA_HINT);
  return schema;
}

/** The upstream convention: `sqlite:///relative.db`, `sqlite:////absolute.db`, `sqlite::memory:`. */
function sqlitePath(url: string): string {
  if (url === 'sqlite::memory:' || url === 'sqlite://' || url === 'sqlite:///:memory:') return ':memory:';
  if (url.startsWith('sqlite:///')) return url.slice('sqlite:///'.length);
  if (url.startsWith('sqlite://')) return url.slice('sqlite://'.length);
  return url.slice('sqlite:'.length);
}

/**
 * Parses a database URL: `postgres://` / `postgresql://` (`user[:password]@host[:port]/dbname`,
 * optional `?schema=`, other parameters passed to the driver) or `sqlite:`. Percent-escapes in the
 * user and password are decoded. Throws CliConfigError (INVALID_CONFIG).
 */
export function parseDatabaseUrl(raw: string, source: ConfigSource): DatabaseConfig {
  const text = raw.trim();
  if (/^sqlite:/i.test(text)) {
    const path = sqlitePath(text);
    if (path.length === 0) throw new CliConfigError(`Invalid database URL: ${redactUrl(text)}`, ExitCode.INVALID_CONFIG, 'Expected sqlite:///path/to/file.db');
    return { kind: 'sqlite', url: text, path, source, display: text };
  }
  const invalid = (why: string) =>
    new CliConfigError(`Invalid database URL (${why}): ${redactUrl(text)}`, ExitCode.INVALID_CONFIG, 'Expected postgres://user:password@host:port/dbname[?schema=name] or sqlite:///path/to/file.db');
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw invalid('not a URL');
  }
  if (url.protocol !== 'postgres:' && url.protocol !== 'postgresql:') throw invalid(`unsupported scheme '${url.protocol.replace(/:$/, '')}'`);
  if (!url.hostname) throw invalid('no host');
  const database = decodeURIComponent(url.pathname.replace(/^\//, ''));
  if (!database || database.includes('/')) throw invalid('no database name');
  const port = url.port ? Number(url.port) : 5432;
  let user: string;
  let password: string;
  try {
    user = decodeURIComponent(url.username) || 'postgres';
    password = decodeURIComponent(url.password);
  } catch {
    throw invalid('bad percent-escape in the user or password');
  }
  const schemas = url.searchParams.getAll('schema');
  const schema = checkSchema(schemas.length > 0 ? schemas[schemas.length - 1]! : null);
  url.searchParams.delete('schema');
  if (!url.username) url.username = 'postgres';
  return { kind: 'postgres', url: url.toString(), schema, source, host: url.hostname, port, user, database, password, display: redactUrl(url.toString()) };
}

interface YamlDatabase {
  host?: unknown;
  port?: unknown;
  user?: unknown;
  password?: unknown;
  dbname?: unknown;
  schema?: unknown;
}

/** Reads `database:` of an mg.yaml file into a PostgreSQL configuration. */
export function parseMgYaml(text: string, file = 'mg.yaml'): PostgresConfig {
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch (error) {
    throw new CliConfigError(`Cannot parse ${file}: ${(error as Error).message.split('\n')[0]}`, ExitCode.INVALID_CONFIG);
  }
  const db = (doc as { database?: unknown } | null)?.database;
  if (db === null || typeof db !== 'object' || Array.isArray(db)) throw new CliConfigError(`${file} has no 'database:' section`, ExitCode.INVALID_CONFIG, 'Expected database: {host, port, user, password, dbname, schema?}');
  const d = db as YamlDatabase;
  const str = (value: unknown, key: string, fallback?: string): string => {
    if (value === undefined || value === null || value === '') {
      if (fallback !== undefined) return fallback;
      throw new CliConfigError(`${file}: 'database.${key}' is required`, ExitCode.INVALID_CONFIG);
    }
    if (typeof value !== 'string' && typeof value !== 'number') throw new CliConfigError(`${file}: 'database.${key}' must be a string`, ExitCode.INVALID_CONFIG);
    return String(value);
  };
  const host = str(d.host, 'host');
  const dbname = str(d.dbname, 'dbname');
  const user = str(d.user, 'user', 'postgres');
  const password = str(d.password, 'password', '');
  const port = Number(str(d.port, 'port', '5432'));
  if (!Number.isInteger(port) || port <= 0 || port > 65535) throw new CliConfigError(`${file}: 'database.port' must be a port number`, ExitCode.INVALID_CONFIG);
  const schema = d.schema === undefined || d.schema === null ? null : checkSchema(str(d.schema, 'schema'));
  const auth = `${encodeURIComponent(user)}${password ? `:${encodeURIComponent(password)}` : ''}@`;
  const hostPart = host.includes(':') && !host.startsWith('[') ? `[${host}]` : host;
  const url = `postgres://${auth}${hostPart}:${port}/${encodeURIComponent(dbname)}`;
  return { kind: 'postgres', url, schema, source: 'mg.yaml', host, port, user, database: dbname, password, display: redactUrl(url) };
}

export interface ResolveOptions {
  /** The --db-url flag. */
  dbUrl?: string;
  env?: NodeJS.ProcessEnv;
  /** Where mg.yaml is looked for. Default: the current directory. */
  cwd?: string;
}

/** Resolves the database of mg-up / mg-status. Throws CliConfigError. */
export function resolveDatabaseConfig(options: ResolveOptions = {}): DatabaseConfig {
  const env = options.env ?? process.env;
  const envSchema = env.MG_SCHEMA?.trim() ? env.MG_SCHEMA.trim() : null;
  const withEnvSchema = (config: DatabaseConfig): DatabaseConfig => (config.kind === 'postgres' && envSchema !== null ? { ...config, schema: checkSchema(envSchema) } : config);

  if (options.dbUrl !== undefined && options.dbUrl.trim() !== '') return parseDatabaseUrl(options.dbUrl, '--db-url');
  if (env.MG_DATABASE_URL?.trim()) return withEnvSchema(parseDatabaseUrl(env.MG_DATABASE_URL, 'MG_DATABASE_URL'));
  const file = join(options.cwd ?? process.cwd(), 'mg.yaml');
  if (existsSync(file)) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (error) {
      throw new CliConfigError(`Cannot read ${file}: ${(error as Error).message}`, ExitCode.INVALID_CONFIG);
    }
    return withEnvSchema(parseMgYaml(text, file));
  }
  throw new CliConfigError('No database configuration found', ExitCode.NO_CONFIG, 'Pass --db-url, set the MG_DATABASE_URL environment variable, or create mg.yaml in the current directory');
}
