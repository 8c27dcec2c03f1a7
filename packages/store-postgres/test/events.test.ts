// PostgreSQL-only behaviour of the event store (the contract itself runs in conformance.test.ts):
// positions are given after commit, in transaction order, and never skip an event that commits late.
import { eventRecord } from '@stabilize/core/testing';
import { type EventRecord, StageExecution, TaskExecution, Transaction, ulid, Workflow } from '@stabilize/core';
import pg from 'pg';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { eventCtes, eventDocument } from '../src/events.js';
import { createPostgresBackend, PostgresEventStore, PostgresWorkflowStore } from '../src/index.js';
import { describePg, dropSchema, migratedSchema, PG_URL, sql } from './pg.js';

const ids = (events: readonly EventRecord[]) => events.map((e) => e.eventId);

function workflow(): Workflow {
  return Workflow.create({
    application: 'events',
    name: 'pg',
    stages: [new StageExecution({ refId: 'a', type: 'test', tasks: [TaskExecution.create({ name: 't', implementingClass: 'success' })] })],
  });
}

describePg('PostgresEventStore', () => {
  let schema: string;
  let url: string;
  let store: PostgresWorkflowStore;
  let events: PostgresEventStore;
  beforeAll(async () => {
    ({ schema, url } = await migratedSchema('ev'));
    store = new PostgresWorkflowStore(url, { poolSize: 4 });
    // Patient: other sessions on the server may hold the xid horizon back for a moment.
    events = new PostgresEventStore(url, { poolSize: 4, positionWaitMs: 5000 });
  });
  afterAll(async () => {
    await events?.close();
    await store?.close();
    if (schema) await dropSchema(schema);
  });

  /** A client in its own open transaction that has written `records` (as a commit would). */
  async function openTransactionWriting(records: EventRecord[]): Promise<pg.Client> {
    const client = new pg.Client({ connectionString: PG_URL });
    await client.connect();
    await client.query('BEGIN');
    const t = { eventStreams: `"${schema}".stabilize_event_streams`, events: `"${schema}".stabilize_events` } as Parameters<typeof eventCtes>[0];
    await client.query(`WITH ${eventCtes(t, '$1::jsonb').join(',\n')} SELECT count(*) FROM c_events`, [JSON.stringify(records.map(eventDocument))]);
    return client;
  }

  it('an open transaction holding an earlier xid holds readAll back until it commits; then both events, in order, none skipped', async () => {
    const start = (await events.readAll()).length;
    const e1 = eventRecord(ulid(), 'x.first');
    const a = await openTransactionWriting([e1]); // client A: BEGIN, e1 written, still open
    try {
      const [e2] = await events.append([eventRecord(ulid(), 'x.second')]); // committed, later xid
      expect(e2!.sequence).toBe(1);
      expect(e2!.position).toBe(0);
      // e2 is committed and visible per workflow, but e1 might still commit before it: no position yet.
      expect(ids(await events.readWorkflow(e2!.workflowId))).toEqual([e2!.eventId]);
      const impatient = new PostgresEventStore(url, { poolSize: 2, positionWaitMs: 100 });
      try {
        expect((await impatient.readAll()).slice(start)).toEqual([]);
      } finally {
        await impatient.close();
      }
      const [{ n } = { n: -1 }] = await sql<{ n: number }>(`SELECT count(*)::int AS n FROM "${schema}".stabilize_events WHERE position IS NULL`);
      expect(n).toBe(1);
      await a.query('COMMIT');
      const after = (await events.readAll()).slice(start);
      expect(ids(after)).toEqual([e1.eventId, e2!.eventId]);
      expect(after[1]!.position).toBe(after[0]!.position + 1);
    } finally {
      await a.end();
    }
  });

  it('a rolled-back transaction leaves no event and holds nothing back', async () => {
    const before = await events.readAll();
    const last = before.at(-1)?.position ?? 0;
    const a = await openTransactionWriting([eventRecord(ulid(), 'x.lost')]);
    const [kept] = await events.append([eventRecord(ulid(), 'x.kept')]);
    await a.query('ROLLBACK');
    await a.end();
    const after = await events.readAll({ afterPosition: last });
    expect(ids(after)).toEqual([kept!.eventId]);
    expect(after[0]!.position).toBe(last + 1);
  });

  it('readAll waits (up to positionWaitMs) for an earlier transaction that commits meanwhile', async () => {
    const patient = new PostgresEventStore(url, { poolSize: 2, positionWaitMs: 10_000 });
    try {
      const last = (await patient.readAll()).at(-1)?.position ?? 0;
      const e1 = eventRecord(ulid(), 'x.slow');
      const a = await openTransactionWriting([e1]);
      const [e2] = await patient.append([eventRecord(ulid(), 'x.fast')]);
      const reading = patient.readAll({ afterPosition: last });
      await new Promise((resolve) => setTimeout(resolve, 100));
      await a.query('COMMIT');
      await a.end();
      expect(ids(await reading)).toEqual([e1.eventId, e2!.eventId]);
    } finally {
      await patient.close();
    }
  });

  it('a commit that carries only events writes them, and their sequences continue per workflow', async () => {
    const id = ulid();
    const [first] = await events.append([eventRecord(id, 'x.one')]);
    const tx = new Transaction();
    tx.events.push(eventRecord(id, 'x.two'), eventRecord(ulid(), 'x.other'), eventRecord(id, 'x.three'));
    expect(tx.isEmpty()).toBe(false);
    await store.commit(tx);
    expect(first!.sequence).toBe(1);
    expect(tx.events.map((e) => [e.eventType, e.sequence, e.position])).toEqual([
      ['x.two', 2, 0],
      ['x.other', 1, 0],
      ['x.three', 3, 0],
    ]);
    expect((await events.readWorkflow(id)).map((e) => e.eventType)).toEqual(['x.one', 'x.two', 'x.three']);
    const all = await events.readAll({ workflowId: id });
    expect(all.map((e) => e.sequence)).toEqual([1, 2, 3]);
  });

  it('a commit that waits for or releases a claim (its explicit-transaction path) writes its events too', async () => {
    const w = workflow();
    await store.commit(new Transaction().insertWorkflow(w));
    const stage = w.stages[0]!;
    const tx = new Transaction().releaseClaim({ executionId: w.id, claimKey: 'mutex:none', stageId: stage.id });
    tx.events.push(eventRecord(w.id, 'x.released'), eventRecord(w.id, 'x.again'));
    await store.commit(tx);
    expect(tx.events.map((e) => e.sequence)).toEqual([1, 2]);
    expect(ids(await events.readWorkflow(w.id))).toEqual(ids(tx.events));
    // A duplicate event id on that path rolls it back as well.
    const dup = new Transaction().releaseClaim({ executionId: w.id, claimKey: 'mutex:none', stageId: stage.id });
    dup.events.push(eventRecord(w.id, 'x.dup', { eventId: tx.events[0]!.eventId }));
    await expect(store.commit(dup)).rejects.toThrow(/already stored/);
    expect(await events.readWorkflow(w.id)).toHaveLength(2);
  });

  it('concurrent committers and a polling reader: every event exactly once, positions consecutive, none skipped', async () => {
    const startAt = (await events.readAll({ limit: 100_000 })).at(-1)?.position ?? 0;
    const workflows = Array.from({ length: 4 }, () => ulid());
    const writers = Array.from({ length: 6 }, async (_, writer) => {
      const written: string[] = [];
      for (let i = 0; i < 15; i++) {
        const batch = [eventRecord(workflows[(writer + i) % 4]!, `w${writer}.e${i}`), eventRecord(workflows[(writer + i + 1) % 4]!, `w${writer}.f${i}`)];
        if (i % 2 === 0) {
          const tx = new Transaction();
          tx.events.push(...batch);
          await store.commit(tx);
          written.push(...ids(tx.events));
        } else {
          written.push(...ids(await events.append(batch)));
        }
      }
      return written;
    });
    const seen: EventRecord[] = [];
    let written: string[] | null = null;
    const all = Promise.all(writers).then((lists) => {
      written = lists.flat();
    });
    const reader = new PostgresEventStore(url, { poolSize: 2, positionWaitMs: 50 });
    try {
      // Polls like a durable subscription until it has seen everything the writers wrote.
      let after = startAt;
      const deadline = Date.now() + 20_000;
      while ((written === null || seen.length < (written as string[]).length) && Date.now() < deadline) {
        const page = await reader.readAll({ afterPosition: after, limit: 7 });
        seen.push(...page);
        if (page.length > 0) after = page.at(-1)!.position;
      }
    } finally {
      await reader.close();
    }
    await all;
    expect(written).not.toBeNull();
    expect(seen.map((e) => e.eventId).sort()).toEqual([...(written ?? [])].sort());
    expect(seen.map((e) => e.position)).toEqual(seen.map((_, i) => startAt + i + 1));
    // Per workflow, positions follow sequences and sequences have no gaps.
    for (const id of workflows) {
      const ofWorkflow = seen.filter((e) => e.workflowId === id);
      expect(ofWorkflow.map((e) => e.sequence)).toEqual(ofWorkflow.map((_, i) => i + 1));
    }
  });

  it('createPostgresBackend opens the event store of the same schema on first use, and closes it', async () => {
    const backend = createPostgresBackend(url, { poolSize: 2 });
    try {
      const w = workflow();
      const tx = new Transaction().insertWorkflow(w);
      tx.events.push(eventRecord(w.id, 'workflow.created'));
      await backend.store.commit(tx);
      expect(backend.events).toBe(backend.events);
      expect(ids(await backend.events.readAll({ workflowId: w.id }))).toEqual(ids(tx.events));
      expect(backend.events.schema).toBe(schema);
    } finally {
      await backend.close();
    }
  });
});
