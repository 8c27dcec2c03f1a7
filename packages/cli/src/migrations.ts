// `stabilize mg-up` and `stabilize mg-status`: apply / show the PostgreSQL migrations.
import { isAuthenticationError, isConnectionError, isDatabaseMissingError, MigrationError, type MigrationStatus, migrate, migrationStatus } from '@stabilize/store-postgres';
import type { DatabaseConfig, PostgresConfig } from './config.js';
import { ExitCode } from './exit-codes.js';
import type { Output } from './output.js';
import { scrubSecret } from './redact.js';

export interface MigrationCommandOptions {
  /** How long to wait for the server to accept a connection. Default 10 s. */
  connectionTimeoutMs?: number;
  /** mg-up: treat checksum mismatches as errors (default: STABILIZE_STRICT_MIGRATIONS). */
  strict?: boolean;
  /** Migration files (default: the ones packaged with @stabilize/store-postgres). */
  migrationsDir?: string;
}

const SQLITE_NOTE = 'SQLite needs no migrations: the SQLite store creates and upgrades its schema itself when it opens the database.';

function target(config: PostgresConfig): string {
  return `${config.display}${config.schema ? ` (schema ${config.schema})` : ''}`;
}

/** Maps a failure to a message (password scrubbed) and an exit code. */
export function reportFailure(error: unknown, config: PostgresConfig, output: Output, fallback: ExitCode): ExitCode {
  const message = scrubSecret(error instanceof Error ? error.message || String((error as { code?: unknown }).code ?? error) : String(error), config.password);
  if (error instanceof MigrationError) {
    output.err(`Error: ${message}`);
    return ExitCode.MIGRATION_FAILED;
  }
  if (isConnectionError(error)) {
    output.err(`Error: Cannot reach the PostgreSQL server at ${config.host}:${config.port}: ${message}`);
    output.err('Check that the server is running and that host and port are right.');
    return ExitCode.UNREACHABLE;
  }
  if (isAuthenticationError(error)) {
    output.err(`Error: PostgreSQL rejected user '${config.user}': ${message}`);
    output.err('Check the user name and password.');
    return ExitCode.AUTH;
  }
  if (isDatabaseMissingError(error)) {
    output.err(`Error: Database '${config.database}' does not exist on ${config.host}:${config.port}`);
    output.err('Create it first (e.g. createdb) or fix the database name.');
    return ExitCode.AUTH;
  }
  if ((error as { code?: unknown }).code === '42501') {
    output.err(`Error: Permission denied for user '${config.user}': ${message}`);
    return ExitCode.AUTH;
  }
  output.err(`Database error: ${message}`);
  return fallback;
}

/** Applies every pending migration. Returns the exit code. */
export async function mgUp(config: DatabaseConfig, output: Output, options: MigrationCommandOptions = {}): Promise<ExitCode> {
  if (config.kind === 'sqlite') {
    output.out(`${SQLITE_NOTE} Nothing to do for ${config.display}.`);
    return ExitCode.OK;
  }
  output.out(`Database: ${target(config)}`);
  try {
    const result = await migrate(config.url, {
      ...(config.schema ? { schema: config.schema } : {}),
      ...(options.strict !== undefined ? { strict: options.strict } : {}),
      ...(options.migrationsDir ? { migrationsDir: options.migrationsDir } : {}),
      connectionTimeoutMs: options.connectionTimeoutMs ?? 10_000,
      log: (line) => (line.startsWith('Warning:') ? output.err(scrubSecret(line, config.password)) : output.out(line)),
    });
    output.out(result.applied.length === 0 ? 'All migrations already applied' : `Applied ${result.applied.length} migration(s)`);
    return ExitCode.OK;
  } catch (error) {
    return reportFailure(error, config, output, ExitCode.MIGRATION_FAILED);
  }
}

function formatTime(date: Date | null): string {
  return date ? date.toISOString().replace('T', ' ').replace('Z', ' UTC') : '-';
}

/** Prints the state of every packaged migration. Exit 0 even with pending ones (as upstream). */
export async function mgStatus(config: DatabaseConfig, output: Output, options: MigrationCommandOptions = {}): Promise<ExitCode> {
  if (config.kind === 'sqlite') {
    output.out(`${SQLITE_NOTE} There is no migration status to show for ${config.display}.`);
    return ExitCode.OK;
  }
  let status: MigrationStatus;
  try {
    status = await migrationStatus(config.url, {
      ...(config.schema ? { schema: config.schema } : {}),
      ...(options.migrationsDir ? { migrationsDir: options.migrationsDir } : {}),
      connectionTimeoutMs: options.connectionTimeoutMs ?? 10_000,
    });
  } catch (error) {
    return reportFailure(error, config, output, ExitCode.FAILURE);
  }
  output.out(`Database: ${config.display} (schema ${status.schema})`);
  output.out(`${'Status'.padEnd(10)} ${'Migration'.padEnd(50)} Applied At`);
  output.out('-'.repeat(80));
  const label = { applied: 'applied', pending: 'pending', mismatch: 'MISMATCH', unknown: 'unknown' } as const;
  for (const entry of status.entries) output.out(`${label[entry.state].padEnd(10)} ${entry.name.padEnd(50)} ${formatTime(entry.appliedAt)}`);
  const pending = status.entries.filter((e) => e.state === 'pending').length;
  const mismatched = status.entries.filter((e) => e.state === 'mismatch').length;
  const unknown = status.entries.filter((e) => e.state === 'unknown').length;
  output.out('');
  if (!status.initialized) output.out('No migrations applied yet: run `stabilize mg-up`.');
  else if (pending > 0) output.out(`${pending} pending migration(s): run \`stabilize mg-up\`.`);
  else output.out('Schema is up to date.');
  if (mismatched > 0) output.err(`Warning: ${mismatched} applied migration(s) changed since they were applied (MISMATCH).`);
  if (unknown > 0) output.err(`Warning: ${unknown} applied migration(s) are unknown to this version of Stabilize (applied by a newer one?).`);
  return ExitCode.OK;
}
