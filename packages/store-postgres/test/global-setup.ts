import pg from 'pg';

/** Runs once per `vitest run`: explains a skip in one line, or fails loudly where skipping is not allowed. */
export default async function setup(): Promise<void> {
  const url = process.env.STABILIZE_TEST_PG_URL;
  if (!url) {
    if (process.env.CI === 'true') {
      throw new Error('CI=true but STABILIZE_TEST_PG_URL is not set: the PostgreSQL suites must run in CI (e.g. STABILIZE_TEST_PG_URL=postgres://postgres@127.0.0.1:5432/test)');
    }
    console.log('PostgreSQL tests skipped: set STABILIZE_TEST_PG_URL=postgres://postgres@127.0.0.1:5432/test to run them');
    return;
  }
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5000 });
  try {
    await client.connect();
    await client.query('SELECT 1');
  } catch (error) {
    throw new Error(`STABILIZE_TEST_PG_URL is set but PostgreSQL is not reachable: ${(error as Error).message}`);
  } finally {
    await client.end().catch(() => undefined);
  }
}
