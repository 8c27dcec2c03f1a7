// Crash consistency: a worker running a workflow with event sourcing on a SQLite file is SIGKILLed
// at random points and restarted. After every kill, whatever was committed has exactly its events:
// the per-workflow sequence has no gap, every stage write appears once in the stage's version chain,
// no event describes a write the store does not hold, and replay equals the stored state.
import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { isComplete, ManualClock, Orchestrator, QueueProcessor, type Workflow } from '@stabilize/core';
import { openSqliteBackend, SqliteEventStore } from '@stabilize/store-sqlite';
import { describe, expect, it } from 'vitest';
import { configureEventSourcing, EventReplayer, type WorkflowChangedData } from '../src/index.js';
import { differences, plain, tempDir } from './support/backends.js';
import { crashRegistry, crashWorkflow } from './fixtures/crash-workflow.js';

const worker = fileURLToPath(new URL('./fixtures/es-worker.ts', import.meta.url));

const startWorker = (db: string, workflowId: string): ChildProcess =>
  spawn(process.execPath, ['--import', 'tsx', '--conditions=@stabilize/source', worker, db, workflowId], { stdio: ['ignore', 'ignore', 'inherit'] });

const exited = (child: ChildProcess) => new Promise<number | null>((resolve) => (child.exitCode !== null || child.signalCode !== null ? resolve(child.exitCode) : child.once('exit', (code) => resolve(code))));

/** Every consistency check between the stored workflow and its events. Returns the stored workflow. */
async function checkConsistency(db: string, workflowId: string): Promise<{ stored: Workflow; events: number }> {
  const backend = openSqliteBackend(db);
  const events = new SqliteEventStore(db);
  try {
    const stored = await backend.store.retrieve(workflowId);
    const history = await events.readWorkflow(workflowId);
    expect(history.map((e) => e.sequence)).toEqual(history.map((_, i) => i + 1));
    expect(new Set(history.map((e) => e.eventId)).size).toBe(history.length);
    // Each stage's writes form an unbroken version chain ending at the stored version.
    const versions = new Map<string, number>(history[0]!.eventType === 'workflow.created' ? (history[0]!.data.definition as Workflow).stages.map((s) => [s.id, s.version]) : []);
    for (const e of history) {
      if (e.eventType !== 'workflow.changed') continue;
      for (const [stageId, change] of Object.entries((e.data as WorkflowChangedData).stages ?? {})) {
        expect(change.version, `stage ${stageId} at event ${e.sequence}`).toBe((versions.get(stageId) ?? -1) + 1);
        versions.set(stageId, change.version);
      }
    }
    for (const s of stored.stages) expect(versions.get(s.id), `stage ${s.refId}`).toBe(s.version);
    const replayed = await new EventReplayer(events).rebuildWorkflowState(workflowId);
    expect(differences(plain(stored), plain(replayed))).toEqual([]);
    // Nothing was published or read ahead of the commit: every event's position is readable in order.
    const all = await events.readAll({ workflowId, limit: 100_000 });
    expect(all.map((e) => e.eventId)).toEqual(history.map((e) => e.eventId));
    return { stored, events: history.length };
  } finally {
    await events.close();
    await backend.close();
  }
}

async function undisturbed(size: number): Promise<Workflow> {
  const dir = tempDir();
  const db = dir.file('calm.db');
  const clock = new ManualClock();
  const backend = openSqliteBackend(db, { clock });
  const events = new SqliteEventStore(db, { clock });
  try {
    const recorder = configureEventSourcing(events, { clock });
    const w = crashWorkflow(size);
    await new Orchestrator(backend.queue, { store: backend.store, recorder }).start(w);
    await new QueueProcessor(backend.queue, { store: backend.store, recorder, taskRegistry: crashRegistry(0), clock, maxWorkers: 4 }).processAll({ timeoutMs: 60_000 });
    return backend.store.retrieve(w.id);
  } finally {
    await events.close();
    await backend.close();
    dir.remove();
  }
}

const outcome = (w: Workflow) => ({ status: w.status, stages: w.stages.map((s) => ({ refId: s.refId, status: s.status, outputs: s.outputs, tasks: s.tasks.map((t) => t.status) })) });

describe('crash consistency of event sourcing on a SQLite file', () => {
  it('a worker killed at random points several times: every committed change has exactly its events', async () => {
    const size = 60;
    const kills = 4;
    const dir = tempDir();
    const db = dir.file('crash.db');
    const w = crashWorkflow(size);
    try {
      {
        const backend = openSqliteBackend(db);
        const events = new SqliteEventStore(db);
        await new Orchestrator(backend.queue, { store: backend.store, recorder: configureEventSourcing(events) }).start(w);
        await events.close();
        await backend.close();
      }
      let seen = 1;
      for (let k = 0; k <= kills; k++) {
        const child = startWorker(db, w.id);
        if (k < kills) {
          // Let it make some progress (more events than at the last kill), then kill it at a random instant.
          const reader = new SqliteEventStore(db);
          const deadline = Date.now() + 30_000;
          const target = seen + 20 + Math.floor(Math.random() * 40);
          while (Date.now() < deadline && child.exitCode === null && (await reader.readWorkflow(w.id)).length < target) await new Promise((r) => setTimeout(r, 10));
          await reader.close();
          await new Promise((r) => setTimeout(r, Math.random() * 30));
          expect(child.exitCode).toBeNull(); // still mid-run
          child.kill('SIGKILL');
          await exited(child);
          expect(child.signalCode).toBe('SIGKILL');
          const { stored, events } = await checkConsistency(db, w.id);
          expect(isComplete(stored.status)).toBe(false);
          expect(events).toBeGreaterThan(seen);
          seen = events;
        } else {
          expect(await exited(child)).toBe(0);
        }
      }
      const { stored } = await checkConsistency(db, w.id);
      expect(isComplete(stored.status)).toBe(true);
      expect(outcome(stored)).toEqual(outcome(await undisturbed(size)));
    } finally {
      dir.remove();
    }
  }, 180_000);
});
