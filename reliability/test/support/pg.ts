// PostgreSQL helpers: suites skip outside CI when STABILIZE_TEST_PG_URL is unset (the global setup
// prints why, and fails the run under CI=true), exactly like the packages' PostgreSQL suites.
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { describe } from 'vitest';

export const PG_URL = process.env.STABILIZE_TEST_PG_URL ?? '';

export const describePg: typeof describe = describe.skipIf(!PG_URL) as typeof describe;

export function randomSchemaName(prefix = 'rel'): string {
  return `${prefix}_${randomBytes(6).toString('hex')}`;
}

export async function admin<T>(url: string, fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}
