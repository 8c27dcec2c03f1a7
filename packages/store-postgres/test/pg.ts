// Helpers of the PostgreSQL test files: every file works in fresh schemas it drops afterwards.
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { describe } from 'vitest';
import { migrate } from '../src/index.js';

export const PG_URL = process.env.STABILIZE_TEST_PG_URL ?? '';

/** `describe` that skips (silently: global-setup printed why) when no PostgreSQL is configured. */
export const describePg: typeof describe = describe.skipIf(!PG_URL) as typeof describe;

export function randomSchemaName(prefix = 't'): string {
  return `${prefix}_${randomBytes(6).toString('hex')}`;
}

/** PG_URL pointing at `schema` through our `?schema=` parameter. */
export function urlFor(schema: string): string {
  const url = new URL(PG_URL);
  url.searchParams.set('schema', schema);
  return url.toString();
}

export async function admin<T>(fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: PG_URL });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

export async function createSchema(prefix = 't'): Promise<string> {
  const schema = randomSchemaName(prefix);
  await admin((c) => c.query(`CREATE SCHEMA "${schema}"`));
  return schema;
}

/** A fresh schema with every migration applied; returns its name and URL. */
export async function migratedSchema(prefix = 't'): Promise<{ schema: string; url: string }> {
  const schema = randomSchemaName(prefix);
  await migrate(PG_URL, { schema });
  return { schema, url: urlFor(schema) };
}

export async function dropSchema(schema: string): Promise<void> {
  await admin((c) => c.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`));
}

export async function sql<R extends pg.QueryResultRow = pg.QueryResultRow>(text: string, values: unknown[] = []): Promise<R[]> {
  return admin(async (c) => (await c.query<R>(text, values)).rows);
}
