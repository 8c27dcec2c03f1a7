// persistence.md §8.9 #75: durable subscriptions with checkpoints, on every backend (PostgreSQL with
// STABILIZE_TEST_PG_URL). Positions come from `readAll` (`appendPositions`): on PostgreSQL `append`
// leaves them 0 and `readAll` assigns them.
import type { EventRecord } from '@stabilize/core';
import { eventRecord } from '@stabilize/core/testing';
import { PostgresEventStore } from '@stabilize/store-postgres';
import { afterEach, describe, expect, it } from 'vitest';
import { SubscriptionManager } from '../src/index.js';
import { appendPositions, BACKENDS, PG_URL, postgres, type RawBackend } from './support/backends.js';

describe.each(BACKENDS)('durable subscriptions (#75): $name', ({ open }) => {
  let b: RawBackend;
  afterEach(async () => {
    await b?.close();
  });
  const five = () => appendPositions(b.events, Array.from({ length: 5 }, (_, i) => eventRecord('w1', `e.${i + 1}`)));

  it('from the beginning: every existing event, in order, then only new ones', async () => {
    b = await open();
    const positions = await five();
    const got: string[] = [];
    const manager = new SubscriptionManager(b.events, { batchSize: 2 });
    await manager.subscribe('audit', (e) => void got.push(e.eventType), { startFrom: 'beginning' });
    expect(await manager.drain()).toBe(5);
    expect(got).toEqual(['e.1', 'e.2', 'e.3', 'e.4', 'e.5']);
    expect(positions).toEqual([...positions].sort((x, y) => x - y));
    expect(await b.events.loadCheckpoint('audit')).toBe(positions[4]);
    const [sixth] = await appendPositions(b.events, [eventRecord('w2', 'e.6')]);
    expect(sixth).toBeGreaterThan(positions[4]!);
    expect(await manager.drain()).toBe(1);
    expect(got).toEqual(['e.1', 'e.2', 'e.3', 'e.4', 'e.5', 'e.6']);
    expect(await b.events.loadCheckpoint('audit')).toBe(sixth);
  });

  it('a failing handler stops at the failed event; the next poll delivers it again (at least once)', async () => {
    b = await open();
    const positions = await five();
    const got: string[] = [];
    let fail = true;
    const errors: string[] = [];
    const manager = new SubscriptionManager(b.events, { onError: (id, e) => errors.push(`${id}:${e.eventType}`) });
    await manager.subscribe('flaky', (e) => {
      if (e.eventType === 'e.3' && fail) throw new Error('not now');
      got.push(e.eventType);
    });
    await manager.pollOnce();
    expect(got).toEqual(['e.1', 'e.2']);
    expect(errors).toEqual(['flaky:e.3']);
    expect(await b.events.loadCheckpoint('flaky')).toBe(positions[1]); // e.1 and e.2 are done
    expect(await manager.status('flaky')).toMatchObject({ enabled: true, position: positions[1], lag: 3, errorCount: 1, lastError: 'not now' });
    fail = false;
    await manager.pollOnce();
    expect(got).toEqual(['e.1', 'e.2', 'e.3', 'e.4', 'e.5']);
    expect(await manager.status('flaky')).toMatchObject({ lag: 0, errorCount: 0 });
  });

  it('a restarted manager resumes from the saved checkpoint; an unsaved handling is delivered again', async () => {
    b = await open();
    const positions = await five();
    const first: string[] = [];
    const m1 = new SubscriptionManager(b.events, { batchSize: 3 });
    await m1.subscribe('resumable', (e) => void first.push(e.eventType));
    await m1.pollOnce();
    expect(first).toEqual(['e.1', 'e.2', 'e.3']);
    expect(await b.events.loadCheckpoint('resumable')).toBe(positions[2]);
    // "crash": a new manager (process) with the same id
    const second: string[] = [];
    const m2 = new SubscriptionManager(b.events);
    await m2.subscribe('resumable', (e) => void second.push(e.eventType), { startFrom: 'latest' }); // a checkpoint wins over startFrom
    await m2.drain();
    expect(second).toEqual(['e.4', 'e.5']);
  });

  it('startFrom latest skips what is stored now; a position starts after it', async () => {
    b = await open();
    const positions = await five();
    const latest: string[] = [];
    const after: string[] = [];
    const manager = new SubscriptionManager(b.events);
    await manager.subscribe('latest', (e) => void latest.push(e.eventType), { startFrom: 'latest' });
    await manager.subscribe('after', (e) => void after.push(e.eventType), { startFrom: positions[2]! });
    expect(await b.events.loadCheckpoint('latest')).toBe(positions[4]);
    const [sixth] = await appendPositions(b.events, [eventRecord('w1', 'e.6')]);
    await manager.drain();
    expect(latest).toEqual(['e.6']);
    expect(await b.events.loadCheckpoint('latest')).toBe(sixth);
    expect(after).toEqual(['e.4', 'e.5', 'e.6']);
  });

  it('filters: types and workflow in the store, entity types and stage here; skipped events still advance', async () => {
    b = await open();
    await b.events.append([eventRecord('w1', 'stage.started', { entityType: 'stage', entityId: 's1' }), eventRecord('w2', 'stage.started', { entityType: 'stage', entityId: 's2' }), eventRecord('w1', 'task.started', { entityType: 'task', entityId: 't1', data: { stage_id: 's1' } })]);
    const got: string[] = [];
    const manager = new SubscriptionManager(b.events);
    await manager.subscribe('w1-stage-s1', (e) => void got.push(`${e.workflowId}:${e.eventType}`), { workflowId: 'w1', stageId: 's1' });
    await manager.subscribe('types', (e) => void got.push(`types:${e.eventType}`), { eventTypes: ['task.started'] });
    await manager.subscribe('entities', (e) => void got.push(`entities:${e.entityId}`), { entityTypes: ['stage'] });
    await manager.drain();
    expect(got.sort()).toEqual(['entities:s1', 'entities:s2', 'types:task.started', 'w1:stage.started', 'w1:task.started'].sort());
    expect(await b.events.loadCheckpoint('entities')).toBe((await b.events.readAll()).at(-1)!.position);
  });

  it('10 consecutive failures disable a subscription until enabled again', async () => {
    b = await open();
    await five();
    const manager = new SubscriptionManager(b.events);
    let calls = 0;
    await manager.subscribe('broken', () => {
      calls += 1;
      throw new Error('always');
    });
    for (let i = 0; i < 12; i++) await manager.pollOnce();
    expect(calls).toBe(10);
    expect(await manager.status('broken')).toMatchObject({ enabled: false, errorCount: 10, position: 0, lag: 5 });
    expect(manager.enable('broken')).toBe(true);
    await manager.pollOnce();
    expect(calls).toBe(11);
  });

  it('start / stop: a background loop delivers new events as they come', async () => {
    b = await open();
    const got: string[] = [];
    const manager = new SubscriptionManager(b.events, { pollIntervalMs: 5 });
    await manager.subscribe('live', (e) => void got.push(e.eventType));
    manager.start();
    await b.events.append([eventRecord('w', 'live.1')]);
    // A deadline rather than a number of rounds: on a loaded machine (or a PostgreSQL server shared
    // with other suites' transactions) a round can take longer.
    for (const deadline = Date.now() + 20_000; got.length === 0 && Date.now() < deadline; ) await new Promise((r) => setTimeout(r, 5));
    await manager.stop();
    expect(got).toEqual(['live.1']);
    expect(await manager.statusAll()).toHaveLength(1);
    expect(manager.unsubscribe('live')).toBe(true);
  });
});

/** A pooled connection of the test's schema, used for a transaction the test keeps open. */
interface SqlClient {
  query(text: string, values?: unknown[]): Promise<{ rows: Array<Record<string, unknown>> }>;
  release(): void;
}

/**
 * What `PostgresEventStore.append` does, as two statements of a transaction the caller controls:
 * take the workflow's next sequence (upserting its `stabilize_event_streams` row, which stays locked
 * until the transaction ends), then insert the event with that sequence; `tx_id` is the writing
 * transaction's id (the column default) and `position` stays NULL. Returns the sequence.
 */
async function insertEvent(client: SqlClient, schema: string, e: EventRecord): Promise<number> {
  const { rows } = await client.query(
    `INSERT INTO "${schema}".stabilize_event_streams AS s (workflow_id, last_sequence) VALUES ($1, 1)
     ON CONFLICT (workflow_id) DO UPDATE SET last_sequence = s.last_sequence + 1 RETURNING s.last_sequence`,
    [e.workflowId],
  );
  const sequence = Number(rows[0]!.last_sequence);
  await client.query(
    `INSERT INTO "${schema}".stabilize_events (event_id, event_type, entity_type, entity_id, workflow_id, sequence, version, data, "timestamp", correlation_id, causation_id, actor, source_handler, schema_version)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8::jsonb, $9, $10, $11, $12, $13, $14)`,
    [e.eventId, e.eventType, e.entityType, e.entityId, e.workflowId, sequence, e.version, JSON.stringify(e.data ?? {}), e.timestamp, e.correlationId, e.causationId, e.actor, e.sourceHandler, e.schemaVersion],
  );
  return sequence;
}

// Transactions that commit out of the order of their ids (PostgreSQL only; absent without
// STABILIZE_TEST_PG_URL): a subscription must neither skip the event that commits late nor deliver
// anything twice, and a workflow's positions must follow its sequences.
if (PG_URL) {
  describe('durable subscriptions on PostgreSQL: transactions committing out of order', () => {
    let b: Awaited<ReturnType<typeof postgres>> | undefined;
    let reader: PostgresEventStore | undefined;
    const clients: SqlClient[] = [];
    afterEach(async () => {
      for (const client of clients.splice(0)) {
        await client.query('ROLLBACK').catch(() => undefined);
        client.release();
      }
      await reader?.close();
      reader = undefined;
      await b?.close();
      b = undefined;
    });
    const connect = async (backend: Awaited<ReturnType<typeof postgres>>): Promise<SqlClient> => {
      const client = (await backend.events.backend.pool.connect()) as unknown as SqlClient;
      clients.push(client);
      return client;
    };
    const positionOf = async (schema: string, eventId: string) =>
      (await b!.store.backend.raw<{ position: string | number | null }>(`SELECT position FROM "${schema}".stabilize_events WHERE event_id = $1`, [eventId], 'test')).rows[0]?.position ?? null;

    it('an event committed after a later-started one is delivered, not skipped: each once, in position order', async () => {
      b = await postgres();
      // A short wait: the first poll must come back while the early transaction is still open.
      reader = new PostgresEventStore(b.url, { positionWaitMs: 200 });
      const got: Array<{ type: string; position: number }> = [];
      const manager = new SubscriptionManager(reader, { batchSize: 10 });
      await manager.subscribe('ordered', (e) => void got.push({ type: e.eventType, position: e.position }), { startFrom: 'beginning' });

      // Transaction 1 writes its event first (so it has the smaller transaction id) and stays open.
      const early = eventRecord('w-early', 'early');
      const tx1 = await connect(b);
      await tx1.query('BEGIN');
      await insertEvent(tx1, b.schema, early);
      // Transaction 2 (another connection, through append) writes and commits while 1 is open.
      const [late] = await b.events.append([eventRecord('w-late', 'late')]);
      expect(late!.position).toBe(0);

      // Nothing may be delivered past the open transaction's event: the committed one is held back.
      expect(await manager.pollOnce()).toBe(0);
      expect(got).toEqual([]);
      expect(await reader.readAll()).toEqual([]);
      expect(await positionOf(b.schema, late!.eventId)).toBeNull();
      expect(await reader.loadCheckpoint('ordered')).toBe(0);
      expect(await manager.status('ordered')).toMatchObject({ position: 0, lag: 0 });

      await tx1.query('COMMIT');
      // Both now: another suite's open transaction on the shared server may hold them back a while.
      for (const deadline = Date.now() + 30_000; got.length < 2 && Date.now() < deadline; ) await manager.pollOnce();
      expect(got.map((e) => e.type)).toEqual(['early', 'late']); // transaction-id order, each once
      const [first, second] = got;
      expect(first!.position).toBeGreaterThan(0);
      expect(second!.position).toBe(first!.position + 1);
      expect(await reader.loadCheckpoint('ordered')).toBe(second!.position);
      expect(await manager.drain()).toBe(0);
      expect(got).toHaveLength(2);
      expect((await reader.readAll()).map((e) => [e.eventId, e.position])).toEqual([
        [early.eventId, first!.position],
        [late!.eventId, second!.position],
      ]);
    });

    it('within a workflow, positions follow sequences even when the later sequence has the smaller transaction id', async () => {
      b = await postgres();
      reader = new PostgresEventStore(b.url, { positionWaitMs: 200 });
      const got: string[] = [];
      const manager = new SubscriptionManager(reader);
      await manager.subscribe('per-workflow', (e) => void got.push(`${e.eventType}:${e.sequence}`), { workflowId: 'w' });

      // A takes its transaction id first; B then writes sequence 1 of w and keeps the stream row.
      const a = await connect(b);
      const bTx = await connect(b);
      await a.query('BEGIN');
      const xidA = BigInt(String((await a.query('SELECT pg_current_xact_id()::text AS xid')).rows[0]!.xid));
      await bTx.query('BEGIN');
      expect(await insertEvent(bTx, b.schema, eventRecord('w', 'b'))).toBe(1);
      const xidB = BigInt(String((await bTx.query('SELECT pg_current_xact_id()::text AS xid')).rows[0]!.xid));
      expect(xidA < xidB).toBe(true);
      // A waits for the stream row, gets sequence 2 once B has committed, and commits last.
      const aWrites = insertEvent(a, b.schema, eventRecord('w', 'a'));
      await bTx.query('COMMIT');
      expect(await aWrites).toBe(2);
      expect(await manager.pollOnce()).toBe(0); // A is open: B's event (sequence 1) still has no position
      await a.query('COMMIT');

      for (const deadline = Date.now() + 30_000; got.length < 2 && Date.now() < deadline; ) await manager.pollOnce();
      expect(got).toEqual(['b:1', 'a:2']);
      const all = await reader.readAll({ workflowId: 'w' });
      expect(all.map((e) => e.sequence)).toEqual([1, 2]);
      expect(all[1]!.position).toBeGreaterThan(all[0]!.position);
      expect(await reader.loadCheckpoint('per-workflow')).toBe(all[1]!.position);
    });
  });
}
