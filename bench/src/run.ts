// `pnpm bench`: every case prints one JSON line. Filter with `--only <substring>` (matched against
// "backend/shape/size"), e.g. `pnpm bench -- --only sqlite/chain`.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInMemoryBackend } from '@stabilize/core';
import { openSqliteBackend } from '@stabilize/store-sqlite';
import { type CaseResult, runInProcess } from './measure.js';
import { buildShape, type Shape } from './shapes.js';

type Case = { backend: 'memory' | 'sqlite'; shape: Shape; size: number };

const CASES: Case[] = [];
for (const backend of ['memory', 'sqlite'] as const) {
  CASES.push({ backend, shape: 'chain', size: 100 }, { backend, shape: 'chain', size: 1000 }, { backend, shape: 'fanout', size: 100 }, { backend, shape: 'fanout', size: 1000 }, { backend, shape: 'independent', size: 50 });
}
CASES.push({ backend: 'sqlite', shape: 'chain', size: 10_000 });

const only = process.argv.includes('--only') ? process.argv[process.argv.indexOf('--only') + 1] : undefined;

async function runCase(c: Case): Promise<CaseResult> {
  const workflows = buildShape(c.shape, c.size);
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
for (const backend of ['memory', 'sqlite'] as const) await runCase({ backend, shape: 'chain', size: 200 });

for (const c of CASES) {
  if (only && !`${c.backend}/${c.shape}/${c.size}`.includes(only)) continue;
  console.log(JSON.stringify(await runCase(c)));
}
