// Four worker processes on one PostgreSQL database run 200 workflows of mixed shapes: every workflow
// ends in its expected state, every task body ran exactly once (twice for the retried one), nothing
// is left in the queue or the dead letters, and no worker crashed — also when one worker is
// SIGKILLed mid-run and restarted (then only the tasks in flight at the kill may run again).
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Orchestrator, WorkflowStatus } from '@stabilize/core';
import { expect, it } from 'vitest';
import { createPostgresBackend, migrate } from '../src/index.js';
import { mixedWorkflows } from './fixtures/mixed.js';
import { admin, describePg, PG_URL, randomSchemaName } from './pg.js';

const workerScript = fileURLToPath(new URL('./fixtures/mixed-worker.ts', import.meta.url));

function startWorker(schema: string, log: string): Promise<ChildProcess> {
  const child = spawn(process.execPath, ['--import', 'tsx', '--conditions=@stabilize/source', workerScript, PG_URL, schema, log], { stdio: ['ignore', 'pipe', 'inherit'] });
  return new Promise((resolve, reject) => {
    child.stdout!.once('data', () => resolve(child));
    child.once('exit', (code) => reject(new Error(`worker exited before it was ready (${code})`)));
  });
}

const exited = (child: ChildProcess) => new Promise<number | null>((resolve) => (child.exitCode !== null || child.signalCode !== null ? resolve(child.exitCode) : child.once('exit', (code) => resolve(code))));

function counts(log: string): Map<string, number> {
  const result = new Map<string, number>();
  if (!existsSync(log)) return result;
  for (const line of readFileSync(log, 'utf8').split('\n').filter(Boolean)) result.set(line, (result.get(line) ?? 0) + 1);
  return result;
}

async function run(killOne: boolean): Promise<void> {
  const schema = randomSchemaName('many');
  const dir = mkdtempSync(join(tmpdir(), 'stabilize-many-'));
  const log = join(dir, 'runs.log');
  await migrate(PG_URL, { schema });
  const { store, queue } = createPostgresBackend(PG_URL, { schema });
  const workers: ChildProcess[] = [];
  try {
    workers.push(...(await Promise.all([0, 1, 2, 3].map(() => startWorker(schema, log)))));
    const cases = mixedWorkflows(200);
    const orchestrator = new Orchestrator(queue, { store });
    for (const c of cases) await orchestrator.start(c.workflow);

    let extraAllowed = 0;
    if (killOne) {
      const deadline = Date.now() + 60_000;
      while (counts(log).size < 150 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
      const victim = workers.shift()!;
      expect(victim.exitCode).toBeNull(); // still mid-run
      victim.kill('SIGKILL');
      await exited(victim);
      extraAllowed = 8; // the victim's task slots (maxConcurrentTasks: 8): a task that ran but whose result was not committed runs again
      workers.push(await startWorker(schema, log));
    }

    const deadline = Date.now() + 120_000;
    while ((await store.countWorkflows({ statuses: [WorkflowStatus.NOT_STARTED, WorkflowStatus.RUNNING] })) > 0) {
      expect(Date.now()).toBeLessThan(deadline);
      await new Promise((r) => setTimeout(r, 50));
    }
    for (const c of cases) expect((await store.retrieveWorkflowOnly(c.workflow.id)).status, c.workflow.name).toBe(c.expectedStatus);
    const runs = counts(log);
    let extra = 0;
    for (const c of cases) {
      for (const [key, expected] of c.expectedRuns) {
        const actual = runs.get(key) ?? 0;
        expect(actual, key).toBeGreaterThanOrEqual(expected);
        extra += actual - expected;
      }
    }
    expect(extra).toBeLessThanOrEqual(extraAllowed);
    // Nothing left behind: no message (delayed, leased or due) and no dead letter.
    const pending = await admin(async (c) => (await c.query(`SELECT count(*)::int AS n FROM "${schema}".queue_messages`)).rows[0].n as number);
    expect(pending).toBe(0);
    expect(await queue.deadLetterCount()).toBe(0);
  } finally {
    for (const w of workers) w.kill('SIGTERM');
    const codes = await Promise.all(workers.map(exited));
    await store.close();
    await queue.close();
    await admin((c) => c.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`));
    rmSync(dir, { recursive: true, force: true });
    expect(codes.every((code) => code === 0)).toBe(true); // no worker crashed; all stopped gracefully
  }
}

describePg('many workers on one PostgreSQL database', () => {
  it('4 worker processes run 200 mixed workflows; every task once, nothing left over', () => run(false), 240_000);
  it('the same with one worker SIGKILLed mid-run and restarted', () => run(true), 240_000);
});
