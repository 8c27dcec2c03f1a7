import { ConcurrencyError, ConfigurationError, TransientError, ValidationError } from '@stabilize/core';
import { describe, expect, it } from 'vitest';
import { isConnectionError, mapPgError, parsePostgresUrl, redactUrl } from '../src/index.js';

const pgError = (code: string, message = 'boom') => Object.assign(new Error(message), { code, severity: 'ERROR' });
const ctx = { schema: 's', operation: 'test' };

describe('mapPgError', () => {
  it('turns a lost or refused connection into a TransientError that keeps the cause', () => {
    for (const error of [
      Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), { code: 'ECONNREFUSED' }),
      Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' }),
      new Error('Connection terminated unexpectedly'),
      new Error('timeout exceeded when trying to connect'),
      pgError('57P01', 'terminating connection due to administrator command'),
      pgError('08006'),
      pgError('53300', 'too many connections'),
      new AggregateError([Object.assign(new Error('x'), { code: 'ECONNREFUSED' })], ''),
    ]) {
      const mapped = mapPgError(error, ctx);
      expect(mapped, String(error)).toBeInstanceOf(TransientError);
      expect((mapped as Error).cause).toBe(error);
      expect(isConnectionError(error)).toBe(true);
    }
  });

  it('maps serialization failures and deadlocks to ConcurrencyError, missing tables to a ConfigurationError naming mg-up', () => {
    expect(mapPgError(pgError('40001'), ctx)).toBeInstanceOf(ConcurrencyError);
    expect(mapPgError(pgError('40P01'), ctx)).toBeInstanceOf(ConcurrencyError);
    const missing = mapPgError(pgError('42P01', 'relation "s.queue_messages" does not exist'), ctx);
    expect(missing).toBeInstanceOf(ConfigurationError);
    expect((missing as Error).message).toMatch(/stabilize mg-up/);
    expect(mapPgError(pgError('28P01', 'password authentication failed'), ctx)).toBeInstanceOf(ConfigurationError);
    expect(mapPgError(pgError('22P05'), ctx)).toBeInstanceOf(ValidationError);
  });

  it('leaves other errors alone', () => {
    const other = pgError('23514', 'check violation');
    expect(mapPgError(other, ctx)).toBe(other);
    expect(isConnectionError(other)).toBe(false);
    expect(isConnectionError(pgError('42P01', 'connection terminated'))).toBe(false); // a server error, not a socket one
  });
});

describe('URLs', () => {
  it('takes the schema out of the URL and validates it', () => {
    expect(parsePostgresUrl('postgres://u:p@h:5433/db?schema=a&sslmode=disable&schema=b_2')).toEqual({ connectionString: 'postgres://u:p@h:5433/db?sslmode=disable', schema: 'b_2' });
    expect(parsePostgresUrl('postgresql://h/db').schema).toBeNull();
    expect(() => parsePostgresUrl('postgres://h/db?schema=a-b')).toThrow(/Invalid schema name/);
    expect(() => parsePostgresUrl(`postgres://h/db?schema=${'x'.repeat(64)}`)).toThrow(/Invalid schema name/);
    expect(() => parsePostgresUrl('mysql://h/db')).toThrow(/Not a PostgreSQL URL/);
    expect(() => parsePostgresUrl('postgres://u:secret@')).toThrow(ConfigurationError);
  });

  it('redacts passwords, including unescaped special characters and password parameters', () => {
    expect(redactUrl('postgres://user:secret@host:5432/db?schema=x')).toBe('postgres://user:***@host:5432/db?schema=x');
    expect(redactUrl('postgres://user:p@ss/w:rd@host/db')).toBe('postgres://user:***@host/db');
    expect(redactUrl('postgres://user@host/db')).toBe('postgres://user@host/db');
    expect(redactUrl('postgres://host/db')).toBe('postgres://host/db');
    expect(redactUrl('postgres://host/db?sslmode=require&password=hunter2&x=1')).toBe('postgres://host/db?sslmode=require&password=***&x=1');
    expect(redactUrl('postgres://:secret@host/db')).toBe('postgres://:***@host/db');
    expect(redactUrl('user:secret@host/db')).toBe('user:***@host/db');
    expect(redactUrl('sqlite:///tmp/x.db')).toBe('sqlite:///tmp/x.db');
  });
});
