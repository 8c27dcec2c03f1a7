// PostgreSQL restarted mid-run: worker processes run workflows on a PRIVATE throwaway cluster (see
// support/cluster.ts; the shared server is never touched), the server is stopped with
// `pg_ctl stop -m fast` mid-run and started again a second later. Workers reconnect with backoff,
// log one line when the outage starts and one when it ends (no flood), every workflow finishes in
// its expected state, no completion is committed twice, nothing is left in the queue or the dead
// letters, and task bodies re-run only for the messages in flight at an outage.
// Small: 150 workflows, 3 workers, 1 outage. Full: 2,000 workflows, 4 workers, 3 outages.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Orchestrator } from '@stabilize/core';
import { createPostgresBackend, migrate } from '@stabilize/store-postgres';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { workload } from './fixtures/workload.js';
import { canRunPrivateCluster, PrivateCluster } from './support/cluster.js';
import { admin, describePg } from './support/pg.js';
import { size } from './support/size.js';
import { countLines, total, verifyCases, waitUntilDone } from './support/verify.js';
import { sleep, spawnWorker, stopWorker, type Worker } from './support/workers.js';

const WORKFLOWS = size(150, 2_000);
const WORKERS = size(3, 4);
const OUTAGES = size(1, 3);
const MAX_WORKERS = 8; // handlers per worker
const TASK_SLOTS = 10; // task bodies per worker (the processor's default maxConcurrentTasks)

describePg('PostgreSQL restarted mid-run (private cluster)', () => {
  let cluster: PrivateCluster | null = null;
  beforeAll(async () => {
    if (!canRunPrivateCluster && process.env.CI !== 'true') return;
    cluster = await PrivateCluster.create();
  });
  afterAll(() => cluster?.destroySync());

  it(`${WORKERS} workers, ${WORKFLOWS} workflows, ${OUTAGES} restart(s): all finish, no duplicate completion, one log line per outage`, async (ctx) => {
    if (!cluster) return ctx.skip();
    const c = cluster;
    const schema = 'reliability';
    await migrate(c.url, { schema });
    const { store, queue } = createPostgresBackend(c.url, { schema, poolSize: 4 });
    const dir = mkdtempSync(join(tmpdir(), 'stabilize-restart-'));
    const workers: Worker[] = [];
    const started = Date.now();
    try {
      for (let i = 0; i < WORKERS; i++) {
        workers.push(
          spawnWorker({
            backend: 'postgres',
            url: c.url,
            schema,
            runsLog: join(dir, `runs-${i}.log`),
            completionsLog: join(dir, `completions-${i}.log`),
            maxWorkers: MAX_WORKERS,
            leaseMs: 3000,
          }),
        );
      }
      await Promise.all(workers.map((w) => w.waitFor('ready')));
      const cases = workload(WORKFLOWS, { application: 'restart', sleepMs: 20 });
      const orchestrator = new Orchestrator(queue, { store });
      for (const cs of cases) await orchestrator.start(cs.workflow);
      const expectedRuns = cases.reduce((sum, cs) => sum + [...cs.expectedRuns.values()].reduce((a, b) => a + b, 0), 0);

      const outages: Array<{ atRuns: number; downMs: number }> = [];
      for (let k = 1; k <= OUTAGES; k++) {
        const target = Math.round((expectedRuns * k) / (OUTAGES + 1));
        const deadline = Date.now() + 300_000;
        while (total(countLines(dir, 'runs-')) < target) {
          expect(Date.now(), 'progress before the outage').toBeLessThan(deadline);
          await sleep(20);
        }
        const atRuns = total(countLines(dir, 'runs-'));
        const down = Date.now();
        c.stop('fast');
        await sleep(1000);
        c.start();
        outages.push({ atRuns, downMs: Date.now() - down });
        expect(atRuns, 'the outage happened mid-run').toBeLessThan(expectedRuns);
      }

      await waitUntilDone(store, cases.length, size(300_000, 1_200_000), undefined, workers);
      const outcome = await verifyCases(store, cases, countLines(dir, 'runs-'), countLines(dir, 'completions-'), { completionMaySeemLost: true });
      // Only the task bodies in flight at an outage may run again (their result commit failed).
      expect(outcome.extraRuns).toBeLessThanOrEqual(OUTAGES * WORKERS * TASK_SLOTS);
      expect(await admin(c.url, async (cl) => (await cl.query(`SELECT count(*)::int AS n FROM "${schema}".queue_messages`)).rows[0].n)).toBe(0);
      expect(await queue.deadLetterCount()).toBe(0);

      // Each worker's LISTEN connection is back (idle workers wake on NOTIFY again, not by polling).
      const listenDeadline = Date.now() + 30_000;
      const listeners = async () =>
        admin(c.url, async (cl) => (await cl.query(`SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = 'stabilize-listener' AND query ILIKE 'LISTEN%'`)).rows[0].n as number);
      while ((await listeners()) < WORKERS) {
        expect(Date.now(), 'LISTEN connections re-established').toBeLessThan(listenDeadline);
        await sleep(100);
      }
      expect(await listeners()).toBe(WORKERS);

      const codes = await Promise.all(workers.map((w) => stopWorker(w)));
      expect(codes).toEqual(workers.map(() => 0)); // nobody crashed during the outages
      const logs = workers.map((w) => w.stderr.split('\n').filter(Boolean));
      if (process.env.STABILIZE_RELIABILITY_VERBOSE) console.log(logs.map((l, i) => `worker ${i}:\n${l.join('\n')}`).join('\n'));
      const outageLines = logs.map((lines) => lines.filter((l) => l.startsWith('error Queue unavailable')).length);
      const resumedLines = logs.map((lines) => lines.filter((l) => l.startsWith('info Queue reachable again')).length);
      // Every worker noticed each outage and its end, and said so once (a worker may see the
      // server "starting up" right after a first success: at most two lines per outage).
      for (let i = 0; i < WORKERS; i++) {
        expect(outageLines[i], `worker ${i} outage lines`).toBeGreaterThanOrEqual(1);
        expect(outageLines[i], `worker ${i} outage lines`).toBeLessThanOrEqual(2 * OUTAGES);
        expect(resumedLines[i], `worker ${i} resumed lines`).toBe(outageLines[i]);
        // No flood: a few lines per outage (start, end, the first failed handler), two for the stop.
        expect(logs[i]!.length, `worker ${i} log lines:\n${logs[i]!.join('\n')}`).toBeLessThanOrEqual(OUTAGES * 8 + 4);
      }
      console.log(
        `[reliability] pg-restart: ${JSON.stringify({ workflows: outcome.workflows, workers: WORKERS, outages, taskRuns: outcome.expectedRuns, extraRuns: outcome.extraRuns, unseenCompletions: outcome.unseenCompletions, outageLines, logLines: logs.map((l) => l.length), seconds: Math.round((Date.now() - started) / 1000) })}`,
      );
    } finally {
      for (const w of workers) await stopWorker(w, 5000);
      await store.close();
      await queue.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
