// The SQLite event tables: created only when event sourcing is used, written inside the commit,
// read through indexes, and never read ahead of a group-commit batch.
import { ConcurrencyError, StageExecution, TaskExecution, Transaction, Workflow, WorkflowStatus } from '@stabilize/core';
import { eventRecord } from '@stabilize/core/testing';
import Database from 'better-sqlite3';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { EVENT_SQL, EVENT_TABLES, openSqliteBackend, type SqliteBackend, SqliteEventStore } from '../src/index.js';
import { tempDir } from './support/temp.js';

const workflow = () =>
  Workflow.create({ application: 'ev', name: 'w', stages: [new StageExecution({ refId: 'a', tasks: [TaskExecution.create({ name: 't', implementingClass: 'x' })] })] });

const tables = (b: SqliteBackend) =>
  (b.store.database.prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name LIKE 'stabilize_event%' ORDER BY name").all() as Array<{ name: string }>).map((r) => r.name);

describe('SQLite event tables', () => {
  const dir = tempDir();
  const open: Array<{ close(): Promise<void> }> = [];
  afterEach(async () => {
    for (const o of open.splice(0).reverse()) await o.close();
  });
  afterAll(() => dir.remove());
  const backend = (name = `${Math.random()}.db`) => {
    const b = openSqliteBackend(dir.file(name));
    open.push(b);
    return b;
  };

  it('are not created by the store; an event store creates them', async () => {
    const b = backend('create.db');
    expect(tables(b)).toEqual([]);
    const events = new SqliteEventStore(dir.file('create.db'));
    open.push(events);
    expect(tables(b)).toEqual([...EVENT_TABLES].sort());
  });

  it('are created by the first commit that carries events, in that commit (a rolled-back creation is redone)', async () => {
    const b = backend('lazy.db');
    const w = workflow();
    await b.store.commit(new Transaction().insertWorkflow(w));
    expect(tables(b)).toEqual([]);
    // A commit with events that fails: its table creation rolls back with it.
    const stale = (await b.store.retrieve(w.id)).stages[0]!;
    stale.version = 7;
    const failing = new Transaction().updateStage(stale);
    failing.events.push(eventRecord(w.id, 'x.failed'));
    await expect(b.store.commit(failing)).rejects.toBeInstanceOf(ConcurrencyError);
    expect(tables(b)).toEqual([]);
    const tx = new Transaction().updateWorkflow(w, { status: WorkflowStatus.RUNNING });
    tx.events.push(eventRecord(w.id, 'x.one'), eventRecord(w.id, 'x.two'));
    await b.store.commit(tx);
    expect(tables(b)).toEqual([...EVENT_TABLES].sort());
    expect(tx.events.map((e) => [e.sequence, e.position])).toEqual([
      [1, 1],
      [2, 2],
    ]);
    const again = new Transaction().updateWorkflow(w, { status: WorkflowStatus.SUCCEEDED });
    again.events.push(eventRecord(w.id, 'x.three'));
    await b.store.commit(again);
    expect(again.events[0]!.sequence).toBe(3);
  });

  it('a duplicate event id is a ConcurrencyError and rolls the state back', async () => {
    const b = backend('dup.db');
    const events = new SqliteEventStore(dir.file('dup.db'));
    open.push(events);
    const [first] = await events.append([eventRecord('other', 'x')]);
    const w = workflow();
    const tx = new Transaction().insertWorkflow(w);
    tx.events.push(eventRecord(w.id, 'workflow.created', { eventId: first!.eventId }));
    await expect(b.store.commit(tx)).rejects.toBeInstanceOf(ConcurrencyError);
    await expect(b.store.retrieve(w.id)).rejects.toThrow();
  });

  it('readAll never returns an event of a group-commit batch that is not committed yet: it commits the batch first', async () => {
    const file = dir.file('group.db');
    const b = backend('group.db');
    const events = new SqliteEventStore(file);
    open.push(events);
    const w = workflow();
    const tx = new Transaction().insertWorkflow(w);
    tx.events.push(eventRecord(w.id, 'workflow.created'));
    tx.groupable = true;
    await b.store.commit(tx);
    const other = new Database(file, { readonly: true });
    try {
      const committed = () => (other.prepare('SELECT COUNT(*) AS n FROM stabilize_events').get() as { n: number }).n;
      expect(committed()).toBe(0); // still in the open batch
      let durable = false;
      b.store.whenDurable(() => (durable = true));
      expect(durable).toBe(false);
      expect((await events.readAll()).map((e) => e.eventType)).toEqual(['workflow.created']);
      expect(committed()).toBe(1);
      expect(durable).toBe(true);
    } finally {
      other.close();
    }
  });

  it('hot event queries read through indexes', async () => {
    const b = backend('plans.db');
    const events = new SqliteEventStore(dir.file('plans.db'));
    open.push(events);
    const bad: string[] = [];
    for (const [name, sql] of Object.entries(EVENT_SQL)) {
      const named = [...sql.matchAll(/@(\w+)/g)].map((m) => m[1]!);
      const args = named.length > 0 ? [Object.fromEntries(named.map((n) => [n, null]))] : new Array((sql.match(/\?/g) ?? []).length).fill(null);
      const plan = (b.store.database.prepare(`EXPLAIN QUERY PLAN ${sql}`).all(...args) as Array<{ detail: string }>).map((p) => p.detail);
      if (plan.some((d) => /^SCAN (?!json_each)/.test(d))) bad.push(`${name}: ${plan.join(' | ')}`);
    }
    expect(bad).toEqual([]);
  });

  it('round-trips every envelope field; a closed store refuses work', async () => {
    backend('fields.db');
    const events = new SqliteEventStore(dir.file('fields.db'));
    const record = eventRecord('wf', 'stage.completed', { entityType: 'stage', entityId: 's', version: 4, data: { outputs: { ü: [1, null, { x: true }] } }, timestamp: 1_767_225_600_123, causationId: null, actor: 'ann', sourceHandler: null, schemaVersion: 3 });
    const [stored] = await events.append([record]);
    expect(await events.readWorkflow('wf')).toEqual([{ ...record, sequence: 1, position: stored!.position }]);
    await events.close();
    await expect(events.readAll()).rejects.toThrow('closed');
  });
});
