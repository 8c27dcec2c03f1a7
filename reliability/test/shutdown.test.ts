// Graceful shutdown: SIGTERM to a busy worker (QueueProcessor.installShutdownHandlers). It stops
// taking new messages at once (no poll after the signal), finishes its in-flight messages — or,
// when they outlast the bound (`timeoutMs`), hands them back — hands back what it had claimed but
// not started, and exits 0 within the bound plus a margin. A second worker then finishes the rest:
// every workflow in its expected state, every task body run exactly once, nothing left over.
// The same on SQLite and (with STABILIZE_TEST_PG_URL) PostgreSQL.
// Small: 40 workflows (+ 6 for the hand-back case). Full: 400 (+ 30).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Orchestrator, type Queue, type WorkflowStore } from '@stabilize/core';
import { createPostgresBackend, migrate } from '@stabilize/store-postgres';
import { openSqliteBackend } from '@stabilize/store-sqlite';
import { describe, expect, it } from 'vitest';
import type { WorkerConfig } from './fixtures/worker.js';
import { type WorkloadCase, workload } from './fixtures/workload.js';
import { admin, PG_URL, randomSchemaName } from './support/pg.js';
import { size } from './support/size.js';
import { countLines, total, verifyCases, waitUntilDone } from './support/verify.js';
import { sleep, spawnWorker, stopWorker, type Worker } from './support/workers.js';

/** Slack on top of the stop bound for the process to flush, close and exit on a loaded machine. */
const EXIT_MARGIN_MS = 15_000;

interface Backend {
  store: WorkflowStore;
  queue: Queue;
  worker: Pick<WorkerConfig, 'backend' | 'url' | 'schema'>;
  close(): Promise<void>;
}

async function sqliteBackend(): Promise<Backend> {
  const dir = mkdtempSync(join(tmpdir(), 'stabilize-shutdown-db-'));
  const file = join(dir, 'shutdown.db');
  const b = openSqliteBackend(file);
  return {
    store: b.store,
    queue: b.queue,
    worker: { backend: 'sqlite', url: file },
    close: async () => {
      await b.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

async function postgresBackend(): Promise<Backend> {
  const schema = randomSchemaName('shutdown');
  await migrate(PG_URL, { schema });
  const b = createPostgresBackend(PG_URL, { schema });
  return {
    store: b.store,
    queue: b.queue,
    worker: { backend: 'postgres', url: PG_URL, schema },
    close: async () => {
      await b.store.close();
      await b.queue.close();
      await admin(PG_URL, (c) => c.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`));
    },
  };
}

interface ShutdownCase {
  cases: WorkloadCase[];
  /** The bound given to the stop. */
  stopTimeoutMs: number;
  /** Whether the in-flight messages are expected to outlast the bound. */
  outlast: boolean;
}

async function sigtermBusyWorker(backend: Backend, scenario: ShutdownCase): Promise<Record<string, unknown>> {
  const dir = mkdtempSync(join(tmpdir(), 'stabilize-shutdown-'));
  const workers: Worker[] = [];
  const config = (name: string): WorkerConfig => ({
    ...backend.worker,
    runsLog: join(dir, `runs-${name}.log`),
    completionsLog: join(dir, `completions-${name}.log`),
    maxWorkers: 4,
    leaseMs: 60_000, // a lost message would only come back after a minute: the test would time out
    stopTimeoutMs: scenario.stopTimeoutMs,
    tracePollsAfterSigterm: true,
  });
  try {
    const { cases } = scenario;
    const orchestrator = new Orchestrator(backend.queue, { store: backend.store });
    for (const c of cases) await orchestrator.start(c.workflow);
    const expectedRuns = cases.reduce((sum, c) => sum + [...c.expectedRuns.values()].reduce((a, b) => a + b, 0), 0);

    const first = spawnWorker(config('first'));
    workers.push(first);
    await first.waitFor('ready');
    // Busy: let it get somewhere (or, for the hand-back case, start its slow task bodies).
    const target = scenario.outlast ? 0 : Math.round(expectedRuns / 4);
    const deadline = Date.now() + 120_000;
    const slowBodies = Math.min(2, cases.length);
    while (scenario.outlast ? total(countLines(dir, 'runs-first', 'begin')) < slowBodies : total(countLines(dir, 'runs-')) < target) {
      expect(Date.now(), 'the first worker made progress').toBeLessThan(deadline);
      await sleep(20);
    }
    const runsBefore = total(countLines(dir, 'runs-'));
    expect(runsBefore).toBeLessThan(expectedRuns);
    const signalled = Date.now();
    first.child.kill('SIGTERM');
    const code = await first.exited;
    const stopMs = Date.now() - signalled;
    expect(code).toBe(0);
    expect(stopMs, 'exited within the bound').toBeLessThanOrEqual(scenario.stopTimeoutMs + EXIT_MARGIN_MS);
    const log = first.stderr.split('\n').filter(Boolean);
    const received = JSON.parse(log.find((l) => l.startsWith('info Shutdown signal received'))!.replace(/^info [^{]*/, '')) as { inFlight: number };
    const stopped = JSON.parse(log.find((l) => l.startsWith('info Worker stopped'))!.replace(/^info [^{]*/, '')) as { finished: number; handedBack: number; timedOut: boolean };
    expect(received.inFlight, 'busy when signalled').toBeGreaterThan(0);
    expect(stopped.timedOut).toBe(scenario.outlast);
    if (scenario.outlast) expect(stopped.handedBack).toBeGreaterThan(0);
    // No poll after the signal: the worker took no new message.
    expect(countLines(dir, 'runs-first', 'sigterm').get(`sigterm ${first.child.pid}`)).toBe(1);
    expect(countLines(dir, 'runs-first', 'poll-after-sigterm').size).toBe(0);

    const second = spawnWorker(config('second'));
    workers.push(second);
    await waitUntilDone(backend.store, cases.length, 120_000, undefined, [second]);
    const runs = countLines(dir, 'runs-');
    const outcome = await verifyCases(backend.store, cases, runs, countLines(dir, 'completions-'));
    expect(outcome.extraRuns, 'no task body ran twice').toBe(0);
    expect(countLines(dir, 'runs-second').size, 'the second worker did the rest').toBeGreaterThan(0);
    expect(await backend.queue.size()).toBe(0);
    expect(await backend.queue.deadLetterCount()).toBe(0);
    expect(await stopWorker(second)).toBe(0);
    return { workflows: cases.length, taskRuns: outcome.expectedRuns, extraRuns: outcome.extraRuns, inFlightAtSignal: received.inFlight, ...stopped, stopMs, runsBefore };
  } finally {
    for (const w of workers) await stopWorker(w, 5000);
    rmSync(dir, { recursive: true, force: true });
  }
}

const backends: Array<[string, () => Promise<Backend>, boolean]> = [
  ['SQLite', sqliteBackend, true],
  ['PostgreSQL', postgresBackend, Boolean(PG_URL)],
];

for (const [name, open, enabled] of backends) {
  describe.skipIf(!enabled)(`graceful shutdown on ${name}`, () => {
    it('SIGTERM to a busy worker: in-flight messages finish, no new ones are taken, a second worker does the rest; nothing lost or run twice', async () => {
      const backend = await open();
      try {
        const figures = await sigtermBusyWorker(backend, { cases: workload(size(40, 400), { application: 'shutdown', sleepMs: 100, shapes: [0, 1, 3, 5, 6] }), stopTimeoutMs: 30_000, outlast: false });
        console.log(`[reliability] shutdown ${name}: ${JSON.stringify(figures)}`);
      } finally {
        await backend.close();
      }
    });

    it('SIGTERM while task bodies outlast the bound: they are handed back at the bound and run once by the second worker', async () => {
      const backend = await open();
      try {
        const cases = workload(size(6, 30), { application: 'shutdown-slow', sleepMs: 4000, sleepStages: ['a'], shapes: [0] });
        const figures = await sigtermBusyWorker(backend, { cases, stopTimeoutMs: 500, outlast: true });
        console.log(`[reliability] shutdown (bound exceeded) ${name}: ${JSON.stringify(figures)}`);
      } finally {
        await backend.close();
      }
    });
  });
}
