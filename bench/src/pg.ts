// PostgreSQL cases: workflows are started by this process and run by N worker processes.
import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { Orchestrator, type Workflow } from '@stabilize/core';
import { createPostgresBackend, migrate } from '@stabilize/store-postgres';
import pg from 'pg';
import { type CaseResult, percentile, round, rssSampler, startAll, waitUntilDone } from './measure.js';

const workerScript = fileURLToPath(new URL('./pg-worker.ts', import.meta.url));

function startWorker(url: string, schema: string): Promise<ChildProcess> {
  const child = spawn(process.execPath, ['--import', 'tsx', '--conditions=@stabilize/source', workerScript, url, schema], { stdio: ['ignore', 'pipe', 'inherit'] });
  return new Promise((resolve, reject) => {
    child.stdout!.once('data', () => resolve(child));
    child.once('exit', (code) => reject(new Error(`worker exited early (${code})`)));
  });
}

export async function runPostgres(url: string, shape: string, size: number, workflows: Workflow[], workers: number): Promise<CaseResult> {
  const schema = `bench_${Date.now()}_${Math.floor(Math.random() * 1e6)}`;
  await migrate(url, { schema });
  const children = await Promise.all(Array.from({ length: workers }, () => startWorker(url, schema)));
  const { store, queue } = createPostgresBackend(url, { schema });
  const stopRss = rssSampler();
  try {
    const orchestrator = new Orchestrator(queue, { store });
    const t0 = performance.now();
    // Epoch time of each start call: the workers stamp the first stage's start with the same clock.
    const startedAt = new Map<string, number>();
    await startAll(workflows, shape, async (w) => {
      startedAt.set(w.id, Date.now());
      await orchestrator.start(w);
    });
    const ids = new Set(workflows.map((w) => w.id));
    await waitUntilDone(store);
    const seconds = (performance.now() - t0) / 1000;
    const statuses = new Set<string>();
    const latencies: number[] = [];
    for (const id of ids) {
      const w = await store.retrieve(id);
      statuses.add(w.status);
      const first = Math.min(...w.stages.map((s) => s.startTime ?? Number.POSITIVE_INFINITY));
      if (Number.isFinite(first)) latencies.push(first - startedAt.get(id)!);
    }
    const stages = workflows.reduce((n, w) => n + w.stages.length, 0);
    return {
      backend: `postgres-${workers}w`,
      shape,
      size,
      workers,
      stages,
      seconds: round(seconds, 3),
      stagesPerSecond: Math.round(stages / seconds),
      p50StartLatencyMs: round(percentile(latencies, 50), 2),
      p99StartLatencyMs: round(percentile(latencies, 99), 2),
      peakRssMb: stopRss(),
      status: [...statuses].join(','),
    };
  } finally {
    for (const child of children) child.kill('SIGTERM');
    await Promise.all(children.map((c) => new Promise((r) => (c.exitCode !== null ? r(null) : c.once('exit', r)))));
    await store.close();
    await queue.close();
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
    await client.end();
  }
}
