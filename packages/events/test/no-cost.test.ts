// Without a recorder, event sourcing costs nothing: handlers put no events into their transactions,
// no event table is created, and no event row is written.
import { Orchestrator, QueueProcessor, type Transaction, Workflow, WorkflowStatus } from '@stabilize/core';
import { openSqliteBackend, SqliteEventStore, type SqliteWorkflowStore } from '@stabilize/store-sqlite';
import { describe, expect, it } from 'vitest';
import { stage } from './support/harness.js';
import { tempDir } from './support/backends.js';
import { crashRegistry } from './fixtures/crash-workflow.js';

const eventTables = (store: SqliteWorkflowStore) =>
  (store.database.prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name LIKE 'stabilize_event%' ORDER BY name").all() as Array<{ name: string }>).map((r) => r.name);

async function run(store: SqliteWorkflowStore, queue: ConstructorParameters<typeof QueueProcessor>[0]): Promise<{ status: string; commits: number; events: number }> {
  let commits = 0;
  let events = 0;
  const commit = store.commit.bind(store);
  store.commit = async (tx: Transaction) => {
    commits += 1;
    events += tx.events.length;
    await commit(tx);
  };
  const w = Workflow.create({ application: 'plain', name: 'no events', stages: [stage('a', ['ok']), stage('b', ['poll'], ['a']), stage('c', ['soft'], ['a']), stage('d', ['ok'], ['b', 'c'])] });
  await new Orchestrator(queue, { store }).start(w);
  await new QueueProcessor(queue, { store, taskRegistry: crashRegistry(0), maxWorkers: 4 }).processAll({ timeoutMs: 20_000 });
  return { status: (await store.retrieve(w.id)).status, commits, events };
}

describe('no cost without event sourcing', () => {
  it('a run writes no events and creates no event tables', async () => {
    const dir = tempDir();
    const backend = openSqliteBackend(dir.file());
    try {
      const result = await run(backend.store, backend.queue);
      expect(result.status).toBe(WorkflowStatus.SUCCEEDED);
      expect(result.commits).toBeGreaterThan(5);
      expect(result.events).toBe(0);
      expect(eventTables(backend.store)).toEqual([]);
    } finally {
      await backend.close();
      dir.remove();
    }
  });

  it('with the event tables present (an event store is open) but no recorder: zero event rows', async () => {
    const dir = tempDir();
    const file = dir.file();
    const backend = openSqliteBackend(file);
    const events = new SqliteEventStore(file);
    try {
      expect(eventTables(backend.store)).toEqual(['stabilize_event_checkpoints', 'stabilize_event_snapshots', 'stabilize_events']);
      expect((await run(backend.store, backend.queue)).status).toBe(WorkflowStatus.SUCCEEDED);
      expect(backend.store.database.prepare('SELECT COUNT(*) AS n FROM stabilize_events').get()).toEqual({ n: 0 });
      expect(await events.readAll()).toEqual([]);
    } finally {
      await events.close();
      await backend.close();
      dir.remove();
    }
  });
});
