// CI runs every benchmark case at a tiny size, only to prove each one works: every line parses,
// every workflow succeeded, and each backend (PostgreSQL with 1 and 4 worker processes when
// STABILIZE_TEST_PG_URL is set) and the HTTP case reported. Speed is judged by `pnpm bench`, not here.
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { expect, it } from 'vitest';

const run = promisify(execFile);
const script = fileURLToPath(new URL('../src/run.ts', import.meta.url));
const pg = process.env.STABILIZE_TEST_PG_URL;

it('every benchmark case runs at smoke size', async () => {
  const { stdout } = await run(process.execPath, ['--import', 'tsx', '--conditions=@stabilize/source', script, '--smoke'], {
    env: { ...process.env, STABILIZE_BENCH_PG_URL: pg ?? '' },
    timeout: 240_000,
    maxBuffer: 16 * 1024 * 1024,
  });
  const lines = stdout.trim().split('\n').map((l) => JSON.parse(l) as { backend: string; shape: string; status?: string; stages?: number; ratioToRawPool?: number });
  const cases = lines.filter((l) => l.shape !== 'http32');
  for (const line of cases) {
    expect(line.status, `${line.backend}/${line.shape}`).toBe('SUCCEEDED');
    expect(line.stages).toBeGreaterThan(0);
  }
  const expected = new Set(['memory', 'sqlite-file', ...(pg ? ['postgres-1w', 'postgres-4w'] : [])]);
  expect(new Set(cases.map((l) => l.backend))).toEqual(expected);
  for (const backend of expected) {
    expect(new Set(cases.filter((l) => l.backend === backend).map((l) => l.shape))).toEqual(new Set(['chain', 'fanout', 'independent', 'latency']));
  }
  const http = lines.find((l) => l.shape === 'http32');
  expect(http?.ratioToRawPool).toBeGreaterThan(0);
}, 300_000);
