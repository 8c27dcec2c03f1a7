// A workflow in a SQLite file survives its worker process being killed (SIGKILL) at any instant:
// a new process finishes it, the final state equals an undisturbed run's, and no task whose
// completion was committed runs again (at most the task in flight at each kill re-runs).
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { isComplete, ManualClock, Orchestrator, QueueProcessor, type Workflow } from '@stabilize/core';
import { describe, expect, it } from 'vitest';
import { openSqliteBackend } from '../src/index.js';
import { chaosRegistry, chaosWorkflow, EXPECTED_RUNS } from './fixtures/chaos-tasks.js';
import { tempDir } from './support/temp.js';

const worker = fileURLToPath(new URL('./fixtures/chaos-worker.ts', import.meta.url));

function startWorker(db: string, log: string, workflowId: string): ChildProcess {
  return spawn(process.execPath, ['--import', 'tsx', '--conditions=@stabilize/source', worker, db, log, workflowId], { stdio: ['ignore', 'pipe', 'inherit'] });
}

function executions(log: string): Map<string, number> {
  const counts = new Map<string, number>();
  if (!existsSync(log)) return counts;
  for (const line of readFileSync(log, 'utf8').split('\n').filter(Boolean)) counts.set(line, (counts.get(line) ?? 0) + 1);
  return counts;
}

const exited = (child: ChildProcess) => new Promise<number | null>((resolve) => (child.exitCode !== null ? resolve(child.exitCode) : child.once('exit', (code) => resolve(code))));

/** The per-stage outcome that must not depend on crashes. */
function outcome(workflow: Workflow) {
  return { status: workflow.status, stages: workflow.stages.map((s) => ({ refId: s.refId, status: s.status, outputs: s.outputs, tasks: s.tasks.map((t) => t.status) })) };
}

async function undisturbedRun(size: number): Promise<ReturnType<typeof outcome>> {
  const dir = tempDir();
  const clock = new ManualClock();
  const backend = openSqliteBackend(dir.file(), { clock });
  try {
    const workflow = chaosWorkflow(size);
    await new Orchestrator(backend.queue, { store: backend.store }).start(workflow);
    await new QueueProcessor(backend.queue, { store: backend.store, taskRegistry: chaosRegistry(dir.file('log.txt')), clock, maxWorkers: 4 }).processAll({ timeoutMs: 60_000 });
    return outcome(await backend.store.retrieve(workflow.id));
  } finally {
    await backend.close();
    dir.remove();
  }
}

async function runWithKills(size: number, kills: number): Promise<{ result: Workflow; runs: Map<string, number>; expected: Map<string, number> }> {
  const dir = tempDir();
  const db = dir.file('chaos.db');
  const log = dir.file('executions.log');
  const workflow = chaosWorkflow(size);
  const backend = openSqliteBackend(db);
  try {
    await new Orchestrator(backend.queue, { store: backend.store }).start(workflow);
    for (let k = 0; k <= kills; k++) {
      const child = startWorker(db, log, workflow.id);
      if (k < kills) {
        // Let it get somewhere, then kill it at a random instant.
        const target = Math.round(((k + 1) * size) / (kills + 2));
        const deadline = Date.now() + 30_000;
        while ([...executions(log).values()].reduce((a, b) => a + b, 0) < target && Date.now() < deadline && child.exitCode === null) await new Promise((r) => setTimeout(r, 20));
        await new Promise((r) => setTimeout(r, Math.random() * 40));
        expect(child.exitCode).toBeNull(); // still mid-run when killed
        child.kill('SIGKILL');
        await exited(child);
        expect(child.signalCode).toBe('SIGKILL');
      } else {
        expect(await exited(child)).toBe(0);
      }
    }
    const result = await backend.store.retrieve(workflow.id);
    const expected = new Map(workflow.stages.map((s) => [s.refId, EXPECTED_RUNS[s.tasks[0]!.implementingClass]!]));
    return { result, runs: executions(log), expected };
  } finally {
    await backend.close();
    dir.remove();
  }
}

describe('crash safety on a SQLite file', () => {
  it('a workflow survives its worker being killed mid-run; finished tasks do not run again', async () => {
    const { result, runs, expected } = await runWithKills(30, 1);
    expect(isComplete(result.status)).toBe(true);
    expect(outcome(result)).toEqual(await undisturbedRun(30));
    const extra = [...expected].reduce((sum, [ref, n]) => sum + Math.max(0, (runs.get(ref) ?? 0) - n), 0);
    expect([...expected].every(([ref, n]) => (runs.get(ref) ?? 0) >= n)).toBe(true);
    expect(extra).toBeLessThanOrEqual(1 * 4); // at most the tasks in flight (4 workers) at the kill
  }, 120_000);

  it('chaos: a 200-stage workflow of mixed results killed five times ends as an undisturbed run', async () => {
    const { result, runs, expected } = await runWithKills(200, 5);
    expect(outcome(result)).toEqual(await undisturbedRun(200));
    const extra = [...expected].reduce((sum, [ref, n]) => sum + Math.max(0, (runs.get(ref) ?? 0) - n), 0);
    expect([...expected].every(([ref, n]) => (runs.get(ref) ?? 0) >= n)).toBe(true);
    expect(extra).toBeLessThanOrEqual(5 * 4);
  }, 300_000);
});
