import { ConcurrencyError, ConfigurationError, StabilizeError, TransientError, ValidationError } from '@stabilize/core';

/** Node socket errors that mean "the server went away or cannot be reached (yet)". */
const CONNECTION_ERRNO = new Set(['ECONNREFUSED', 'ECONNRESET', 'ECONNABORTED', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'EAI_AGAIN', 'EPIPE', 'ENOTFOUND']);
/** Messages node-postgres uses for a connection that died or never came up. */
const CONNECTION_MESSAGE = /connection terminated|terminating connection|connection timeout|timeout exceeded when trying to connect|client has encountered a connection error|connection (?:was )?closed|server closed the connection|socket (?:hang up|closed)/i;

interface PgErrorLike {
  code?: unknown;
  message?: unknown;
}

function sqlState(error: unknown): string | undefined {
  const code = (error as PgErrorLike | null)?.code;
  return typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code) ? code : undefined;
}

/** True when `error` (or its cause) says the connection to PostgreSQL failed or was lost. */
export function isConnectionError(error: unknown, depth = 0): boolean {
  if (depth > 5 || error === null || typeof error !== 'object') return false;
  const code = (error as PgErrorLike).code;
  if (typeof code === 'string') {
    if (CONNECTION_ERRNO.has(code)) return true;
    // 08: connection exception; 57P01-03: admin/crash shutdown, cannot connect now;
    // 53300: too many connections; 58000/58030: system / I/O error.
    if (code.startsWith('08') || code === '57P01' || code === '57P02' || code === '57P03' || code === '53300' || code === '58000' || code === '58030') return true;
  }
  const message = (error as PgErrorLike).message;
  if (typeof message === 'string' && sqlState(error) === undefined && CONNECTION_MESSAGE.test(message)) return true;
  if (error instanceof AggregateError && error.errors.some((e) => isConnectionError(e, depth + 1))) return true;
  return isConnectionError((error as { cause?: unknown }).cause, depth + 1);
}

/** Bad password / unknown role / missing database: configuration, not a transient failure. */
export function isAuthenticationError(error: unknown): boolean {
  const code = sqlState(error);
  return code === '28P01' || code === '28000';
}

export function isDatabaseMissingError(error: unknown): boolean {
  return sqlState(error) === '3D000';
}

const MISSING_SCHEMA_CODES = new Set(['42P01', '3F000', '42883']);

/** The message every "tables are missing" error carries. */
export function missingSchemaMessage(schema: string, detail: string): string {
  return `The Stabilize tables are not installed in PostgreSQL schema "${schema}" (${detail}). Run \`stabilize mg-up\` (with the same database URL and schema) first.`;
}

/**
 * Maps a driver error to the engine's error hierarchy: connection loss becomes a `TransientError`
 * (the processor retries), serialization failures and deadlocks a `ConcurrencyError`, missing tables
 * a `ConfigurationError` naming `stabilize mg-up`. Other errors are returned unchanged.
 */
export function mapPgError(error: unknown, context: { schema: string; operation: string }): unknown {
  if (error instanceof StabilizeError) return error;
  const code = sqlState(error);
  const message = error instanceof Error ? error.message : String(error);
  if (isConnectionError(error)) {
    return new TransientError(`PostgreSQL connection failed during ${context.operation}: ${message}`, { cause: error });
  }
  if (code === '40001' || code === '40P01' || code === '55P03') {
    return new ConcurrencyError(`PostgreSQL reported a concurrent update during ${context.operation} (${code}): ${message}`, { cause: error });
  }
  if (code && MISSING_SCHEMA_CODES.has(code)) {
    return new ConfigurationError(missingSchemaMessage(context.schema, message), { cause: error });
  }
  if (isAuthenticationError(error) || isDatabaseMissingError(error)) {
    return new ConfigurationError(`PostgreSQL refused the connection: ${message}`, { cause: error });
  }
  if (code === '22P05' || code === '22021') {
    return new ValidationError(`PostgreSQL cannot store this value (${message}); JSON strings must not contain NUL characters`, { cause: error });
  }
  return error;
}
