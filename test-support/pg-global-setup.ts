import { Socket } from 'node:net';

// Shared by every package with PostgreSQL suites (their vitest.config.js point here).
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
  const { hostname, port } = new URL(url);
  await new Promise<void>((resolve, reject) => {
    const socket = new Socket();
    socket.setTimeout(5000);
    socket.once('connect', () => {
      socket.destroy();
      resolve();
    });
    socket.once('timeout', () => {
      socket.destroy();
      reject(new Error('timeout'));
    });
    socket.once('error', reject);
    socket.connect(Number(port || 5432), hostname);
  }).catch((error: Error) => {
    throw new Error(`STABILIZE_TEST_PG_URL is set but PostgreSQL is not reachable: ${error.message}`);
  });
}
