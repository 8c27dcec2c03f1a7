// The event-store contract (persistence.md §5.3, §8.8): events written by `WorkflowStore.commit` in
// the same transaction as the state, per-workflow sequences, global positions, reads, snapshots and
// checkpoints. Runs for every backend whose factory provides `events`.
import { describe, expect, it } from 'vitest';
import { ManualClock } from '../clock.js';
import { ConcurrencyError } from '../errors.js';
import type { EventRecord, EventStore } from '../events/event-store.js';
import type { EntityType } from '../events/recorder.js';
import { ulid } from '../ids.js';
import { StageExecution } from '../model/stage-execution.js';
import { WorkflowStatus } from '../model/status.js';
import { TaskExecution } from '../model/task-execution.js';
import { Workflow } from '../model/workflow.js';
import { Transaction } from '../store/transaction.js';
import type { BackendFactory, BackendUnderTest } from './backend.js';
import { createHarness, S } from './harness.js';

/** A not-yet-stored event record (sequence and position 0). */
export function eventRecord(workflowId: string, eventType: string, init: Partial<EventRecord> = {}): EventRecord {
  return {
    eventId: ulid(),
    eventType,
    entityType: 'workflow' as EntityType,
    entityId: workflowId,
    workflowId,
    version: 1,
    data: {},
    timestamp: 1_700_000_000_000,
    correlationId: workflowId,
    causationId: null,
    actor: 'system',
    sourceHandler: null,
    schemaVersion: 1,
    sequence: 0,
    position: 0,
    ...init,
  };
}

const withoutPosition = ({ position: _position, ...rest }: EventRecord) => rest;

function smallWorkflow(): Workflow {
  return Workflow.create({
    application: 'events',
    name: 'small',
    stages: [new StageExecution({ refId: 'a', type: 'test', tasks: [TaskExecution.create({ name: 't', implementingClass: 'success' })] })],
  });
}

export function eventScenarios(factory: BackendFactory): void {
  // Skipped (not passed) on a backend whose factory provides no event store.
  const withEvents = (fn: (b: BackendUnderTest & { events: EventStore }, clock: ManualClock) => Promise<void>) => async (context: { skip(note?: string): void }) => {
    const clock = new ManualClock();
    const backend = await factory.create(clock);
    try {
      if (!backend.events) context.skip('the backend provides no event store');
      await fn(backend as BackendUnderTest & { events: EventStore }, clock);
    } finally {
      await backend.close();
    }
  };

  describe('event store contract', () => {
    it(
      'commit writes the events of a transaction with the state, and numbers them',
      withEvents(async ({ store, events }) => {
        const w = smallWorkflow();
        const tx = new Transaction().insertWorkflow(w);
        tx.events.push(eventRecord(w.id, 'workflow.created', { data: { name: 'small', nested: { list: [1, 'two', null, true] }, unicode: 'größe ✓' } }));
        tx.events.push(eventRecord(w.id, 'custom.progress', { entityType: 'stage', entityId: w.stages[0]!.id, causationId: '42', actor: 'ann', sourceHandler: 'Test' }));
        await store.commit(tx);
        // The records of the transaction carry what the store assigned: the sequence always, the
        // position when the store assigns it at commit (0 when it is assigned later, see EventRecord).
        expect(tx.events.map((e) => e.sequence)).toEqual([1, 2]);
        const all = await events.readAll();
        expect(all.map((e) => e.eventId)).toEqual(tx.events.map((e) => e.eventId));
        expect(all[0]!.position).toBeGreaterThan(0);
        expect(all[1]!.position).toBeGreaterThan(all[0]!.position);
        for (const [i, e] of tx.events.entries()) if (e.position !== 0) expect(e.position).toBe(all[i]!.position);

        const stored = await events.readWorkflow(w.id);
        expect(stored.map(withoutPosition)).toEqual(tx.events.map(withoutPosition));
        expect(all.map(withoutPosition)).toEqual(stored.map(withoutPosition));
        expect(stored[0]!.data).toEqual({ name: 'small', nested: { list: [1, 'two', null, true] }, unicode: 'größe ✓' });
        expect(stored[1]).toMatchObject({ entityType: 'stage', causationId: '42', actor: 'ann', sourceHandler: 'Test', schemaVersion: 1 });
        expect((await store.retrieve(w.id)).id).toBe(w.id);
      }),
    );

    it(
      'append numbers per workflow (sequence) and globally (position); a batch is consecutive (§8.8 #58)',
      withEvents(async ({ events }) => {
        const a = ulid();
        const b = ulid();
        const first = await events.append([eventRecord(a, 'x.one')]);
        const batch = await events.append([eventRecord(b, 'x.one'), eventRecord(a, 'x.two')]);
        const last = await events.append([eventRecord(a, 'x.three')]);
        expect(first[0]!.sequence).toBe(1);
        expect(batch.map((e) => [e.workflowId, e.sequence])).toEqual([
          [b, 1],
          [a, 2],
        ]);
        expect(last[0]!.sequence).toBe(3);
        // Global positions follow the appends (read them: a store may assign them after the append).
        const appended = [...first, ...batch, ...last];
        const all = await events.readAll();
        expect(all.map((e) => e.eventId)).toEqual(appended.map((e) => e.eventId));
        const positions = all.map((e) => e.position);
        expect(positions[0]).toBeGreaterThan(0);
        expect(positions).toEqual([...positions].sort((x, y) => x - y));
        expect(new Set(positions).size).toBe(4);
        for (const [i, e] of appended.entries()) if (e.position !== 0) expect(e.position).toBe(positions[i]);
        // Interleaved workflows: a's sequences have no gaps although its positions do (§8.9 #70).
        const ofA = await events.readWorkflow(a);
        expect(ofA.map((e) => e.sequence)).toEqual([1, 2, 3]);
        expect(ofA.map((e) => e.eventType)).toEqual(['x.one', 'x.two', 'x.three']);
        expect(ofA.map((e) => e.eventId)).toEqual([first[0]!.eventId, batch[1]!.eventId, last[0]!.eventId]);
      }),
    );

    it(
      'a duplicate event id rolls the whole state transaction back (§8.8 #59)',
      withEvents(async ({ store, events }) => {
        const [existing] = await events.append([eventRecord(ulid(), 'x.one')]);
        const w = smallWorkflow();
        const tx = new Transaction().insertWorkflow(w);
        tx.events.push(eventRecord(w.id, 'workflow.created'), eventRecord(w.id, 'x.dup', { eventId: existing!.eventId }));
        await expect(store.commit(tx)).rejects.toThrow();
        await expect(store.retrieve(w.id)).rejects.toThrow();
        expect(await events.readWorkflow(w.id)).toEqual([]);
        expect((await events.readAll()).map((e) => e.eventId)).toEqual([existing!.eventId]);
        await expect(events.append([eventRecord(ulid(), 'x.dup', { eventId: existing!.eventId })])).rejects.toThrow();
      }),
    );

    it(
      'a transaction that fails a precondition stores none of its events (§8.8 #62, #64)',
      withEvents(async ({ store, events }) => {
        const w = smallWorkflow();
        await store.commit(new Transaction().insertWorkflow(w));
        const stale = (await store.retrieve(w.id)).stages[0]!;
        const fresh = stale.clone();
        fresh.status = WorkflowStatus.RUNNING;
        await store.commit(new Transaction().updateStage(fresh));
        stale.status = WorkflowStatus.SUCCEEDED;
        const tx = new Transaction().updateStage(stale);
        tx.events.push(eventRecord(w.id, 'stage.completed', { entityType: 'stage', entityId: stale.id }));
        await expect(store.commit(tx)).rejects.toBeInstanceOf(ConcurrencyError);
        expect(await events.readWorkflow(w.id)).toEqual([]);
        expect((await store.retrieve(w.id)).stages[0]!.status).toBe(WorkflowStatus.RUNNING);
      }),
    );

    it(
      'readWorkflow filters: afterSequence (exclusive), toSequence (inclusive), asOfTime, event types (§8.8 #60)',
      withEvents(async ({ events }) => {
        const a = ulid();
        const types = ['workflow.created', 'stage.started', 'stage.completed', 'workflow.completed'];
        await events.append(types.map((t, i) => eventRecord(a, t, { timestamp: 1000 + i * 10 })));
        await events.append([eventRecord(ulid(), 'workflow.created')]);
        const seqs = (rows: EventRecord[]) => rows.map((e) => e.sequence);
        expect(seqs(await events.readWorkflow(a))).toEqual([1, 2, 3, 4]);
        expect(seqs(await events.readWorkflow(a, { afterSequence: 1 }))).toEqual([2, 3, 4]);
        expect(seqs(await events.readWorkflow(a, { toSequence: 2 }))).toEqual([1, 2]);
        expect(seqs(await events.readWorkflow(a, { afterSequence: 1, toSequence: 3 }))).toEqual([2, 3]);
        expect(seqs(await events.readWorkflow(a, { asOfTime: 1015 }))).toEqual([1, 2]);
        expect(seqs(await events.readWorkflow(a, { asOfTime: 1020 }))).toEqual([1, 2, 3]);
        expect(seqs(await events.readWorkflow(a, { eventTypes: ['workflow.created', 'workflow.completed'] }))).toEqual([1, 4]);
        expect(await events.readWorkflow(ulid())).toEqual([]);
      }),
    );

    it(
      'readAll: position order, afterPosition, limit, event types and workflow filters',
      withEvents(async ({ events }) => {
        const a = ulid();
        const b = ulid();
        await events.append([eventRecord(a, 'x.one'), eventRecord(b, 'x.one'), eventRecord(a, 'x.two'), eventRecord(b, 'x.two'), eventRecord(a, 'x.three')]);
        const all = await events.readAll();
        expect(all).toHaveLength(5);
        const positions = all.map((e) => e.position);
        expect(positions).toEqual([...positions].sort((x, y) => x - y));
        expect((await events.readAll({ afterPosition: positions[1]! })).map((e) => e.position)).toEqual(positions.slice(2));
        expect((await events.readAll({ limit: 2 })).map((e) => e.position)).toEqual(positions.slice(0, 2));
        expect((await events.readAll({ afterPosition: positions[0]!, limit: 2 })).map((e) => e.position)).toEqual(positions.slice(1, 3));
        expect((await events.readAll({ eventTypes: ['x.two'] })).map((e) => e.workflowId)).toEqual([a, b]);
        expect((await events.readAll({ workflowId: b })).map((e) => e.eventType)).toEqual(['x.one', 'x.two']);
        expect(await events.readAll({ afterPosition: positions[4]! })).toEqual([]);
      }),
    );

    it(
      'snapshots: newest at or before a sequence, same sequence replaced (§8.9 #72)',
      withEvents(async ({ events }) => {
        const a = ulid();
        expect(await events.loadSnapshot(a)).toBeNull();
        await events.saveSnapshot({ workflowId: a, sequence: 5, state: { status: 'RUNNING', n: 5 }, stateHash: 'h5', createdAt: 1 });
        await events.saveSnapshot({ workflowId: a, sequence: 100, state: { status: 'SUCCEEDED', n: 100, text: 'größe ✓' }, stateHash: 'h100', createdAt: 2 });
        await events.saveSnapshot({ workflowId: ulid(), sequence: 200, state: {}, stateHash: 'other', createdAt: 3 });
        expect(await events.loadSnapshot(a)).toEqual({ workflowId: a, sequence: 100, state: { status: 'SUCCEEDED', n: 100, text: 'größe ✓' }, stateHash: 'h100', createdAt: 2 });
        expect((await events.loadSnapshot(a, 99))?.sequence).toBe(5);
        expect((await events.loadSnapshot(a, 100))?.sequence).toBe(100);
        expect(await events.loadSnapshot(a, 4)).toBeNull();
        await events.saveSnapshot({ workflowId: a, sequence: 100, state: { replaced: true }, stateHash: 'h100b', createdAt: 4 });
        expect(await events.loadSnapshot(a)).toMatchObject({ sequence: 100, state: { replaced: true }, stateHash: 'h100b' });
        expect((await events.loadSnapshot(a, 99))?.sequence).toBe(5);
      }),
    );

    it(
      'subscription checkpoints: 0 until saved, then the saved position',
      withEvents(async ({ events }) => {
        expect(await events.loadCheckpoint('sub-a')).toBe(0);
        await events.saveCheckpoint('sub-a', 7);
        await events.saveCheckpoint('sub-b', 3);
        await events.saveCheckpoint('sub-a', 12);
        expect(await events.loadCheckpoint('sub-a')).toBe(12);
        expect(await events.loadCheckpoint('sub-b')).toBe(3);
      }),
    );

    it(
      'an engine run without a recorder writes no events',
      withEvents(async (backend) => {
        const h = await createHarness({ name: factory.name, create: async () => backend });
        const w = Workflow.create({ application: 'events', name: 'plain', stages: [S('a', ['success']), S('b', ['success'], ['a'])] });
        expect((await h.run(w)).status).toBe(WorkflowStatus.SUCCEEDED);
        expect(await backend.events.readAll()).toEqual([]);
        expect(await backend.events.readWorkflow(w.id)).toEqual([]);
      }),
    );
  });
}
