// `pnpm bench`: every case prints one JSON line, with the issue's target where one applies (`met`,
// `missedBy`). Filter with `--only <substring>` (matched against "backend/shape/size"), e.g.
// `pnpm bench -- --only sqlite/chain`. `--smoke` runs every case at a tiny size (CI: it works).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInMemoryBackend } from '@stabilize/core';
import { openSqliteBackend } from '@stabilize/store-sqlite';
import { type CaseResult, runInProcess } from './measure.js';
import { runHttpCase } from './http.js';
import { runPostgres } from './pg.js';
import { buildShape, type Shape } from './shapes.js';
import { type Line, scalingVerdict, verdicts } from './targets.js';

type Case = { backend: 'memory' | 'sqlite' | 'postgres'; shape: Shape; size: number; workers?: number };

const smoke = process.argv.includes('--smoke');
const n = (size: number) => (smoke ? Math.min(size, 5) : size);
const CASES: Case[] = [];
for (const backend of ['memory', 'sqlite'] as const) {
  CASES.push({ backend, shape: 'chain', size: n(100) }, { backend, shape: 'chain', size: n(1000) }, { backend, shape: 'fanout', size: n(100) }, { backend, shape: 'fanout', size: n(1000) }, { backend, shape: 'independent', size: n(50) }, { backend, shape: 'latency', size: n(50) });
}
CASES.push({ backend: 'sqlite', shape: 'chain', size: smoke ? 20 : 10_000 });
// PostgreSQL (STABILIZE_BENCH_PG_URL or STABILIZE_TEST_PG_URL): 1 and 4 worker processes.
const pgUrl = process.env.STABILIZE_BENCH_PG_URL ?? process.env.STABILIZE_TEST_PG_URL;
if (pgUrl) {
  for (const workers of [1, 4]) {
    CASES.push({ backend: 'postgres', shape: 'chain', size: n(200), workers }, { backend: 'postgres', shape: 'fanout', size: n(200), workers }, { backend: 'postgres', shape: 'independent', size: n(200), workers }, { backend: 'postgres', shape: 'latency', size: n(50), workers });
  }
}

const only = process.argv.includes('--only') ? process.argv[process.argv.indexOf('--only') + 1] : undefined;

async function runCase(c: Case): Promise<CaseResult> {
  const workflows = buildShape(c.shape, c.size);
  if (c.backend === 'postgres') return runPostgres(pgUrl!, c.shape, c.size, workflows, c.workers ?? 1);
  if (c.backend === 'memory') {
    const { store, queue } = createInMemoryBackend();
    return runInProcess('memory', c.shape, c.size, workflows, store, queue);
  }
  const dir = mkdtempSync(join(tmpdir(), 'stabilize-bench-'));
  const backend = openSqliteBackend(join(dir, 'bench.db'));
  try {
    return await runInProcess('sqlite-file', c.shape, c.size, workflows, backend.store, backend.queue);
  } finally {
    await backend.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

// Warm up each backend once (JIT, prepared statements) so short cases measure the engine, not startup.
if (!smoke) for (const backend of ['memory', 'sqlite'] as const) await runCase({ backend, shape: 'chain', size: 200 });

const print = (line: Line) => {
  const judged = verdicts(line);
  console.log(JSON.stringify(judged.length === 0 ? line : { ...line, targets: judged }));
};

const sqliteChainMsPerStage = new Map<number, number>();
for (const c of CASES) {
  if (only && !`${c.backend}${c.workers ? `-${c.workers}w` : ''}/${c.shape}/${c.size}`.includes(only)) continue;
  const result = await runCase(c);
  if (result.backend === 'sqlite-file' && result.shape === 'chain') sqliteChainMsPerStage.set(result.size, (result.seconds * 1000) / result.stages);
  print(result);
}
// The scaling case: per-stage cost of a 10,000-stage chain against a 100-stage one (same run).
const [small, large] = [sqliteChainMsPerStage.get(100), sqliteChainMsPerStage.get(10_000)];
if (small !== undefined && large !== undefined) {
  console.log(JSON.stringify({ backend: 'sqlite-file', shape: 'scaling', msPerStageAt100: small, msPerStageAt10000: large, targets: [scalingVerdict(small, large)] }));
}

// 32 parallel HTTP GETs through the engine vs a raw Promise pool of 10 (same run, local server).
if (!only || 'memory/http32'.includes(only)) print((await runHttpCase()) as Line);
