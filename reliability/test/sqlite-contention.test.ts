// SQLite under contention: several processes open one new database file at the same moment (each
// creating the tables), then each starts workflows while all of them work on everyone's messages
// and read state. No SQLITE_BUSY ("database is locked") reaches a user or a log, and nothing is
// lost: every workflow in its expected state, joins with every upstream's outputs, every task body
// run exactly as documented, each completion committed once, queue and dead letters empty.
// Small: 4 processes × 40 workflows. Full: 6 processes × 500 workflows.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openSqliteBackend } from '@stabilize/store-sqlite';
import { describe, expect, it } from 'vitest';
import type { CaseRecord } from './fixtures/workload.js';
import { size } from './support/size.js';
import { countLines, verifyCases, waitUntilDone } from './support/verify.js';
import { spawnWorker, stopWorker, type Worker } from './support/workers.js';

const PROCESSES = size(4, 6);
const PER_PROCESS = size(40, 500);

describe('SQLite under contention', () => {
  it(`${PROCESSES} processes start and run ${PROCESSES * PER_PROCESS} workflows on one file at once: no SQLITE_BUSY, no lost update`, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'stabilize-contention-'));
    const file = join(dir, 'shared.db');
    const workers: Worker[] = [];
    const started = Date.now();
    try {
      for (let i = 0; i < PROCESSES; i++) {
        workers.push(
          spawnWorker({
            backend: 'sqlite',
            url: file,
            runsLog: join(dir, `runs-${i}.log`),
            completionsLog: join(dir, `completions-${i}.log`),
            maxWorkers: 8,
            start: { count: PER_PROCESS, casesFile: join(dir, `cases-${i}.json`) },
          }),
        );
      }
      await Promise.all(workers.map((w) => w.waitFor('started', 300_000)));
      const cases = workers.flatMap((_, i) => JSON.parse(readFileSync(join(dir, `cases-${i}.json`), 'utf8')) as CaseRecord[]);
      expect(cases).toHaveLength(PROCESSES * PER_PROCESS);
      const backend = openSqliteBackend(file);
      try {
        await waitUntilDone(backend.store, cases.length, size(180_000, 1_200_000), undefined, workers);
        const outcome = await verifyCases(backend.store, cases, countLines(dir, 'runs-'), countLines(dir, 'completions-'));
        expect(outcome.extraRuns).toBe(0);
        expect(await backend.queue.size()).toBe(0);
        expect(await backend.queue.deadLetterCount()).toBe(0);
        const codes = await Promise.all(workers.map((w) => stopWorker(w)));
        expect(codes).toEqual(workers.map(() => 0));
        for (const w of workers) {
          expect(w.stderr).not.toMatch(/SQLITE_BUSY|database is locked/i);
          // Nothing failed at all: no handler error, no worker-loop error.
          expect(w.stderr.split('\n').filter((l) => l.startsWith('warn ') || l.startsWith('error '))).toEqual([]);
        }
        console.log(`[reliability] sqlite-contention: ${JSON.stringify({ processes: PROCESSES, workflows: outcome.workflows, taskRuns: outcome.expectedRuns, extraRuns: outcome.extraRuns, seconds: Math.round((Date.now() - started) / 1000) })}`);
      } finally {
        await backend.close();
      }
    } finally {
      for (const w of workers) await stopWorker(w, 5000);
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
