// The recorder: envelopes, the events it derives from a transaction's writes, idempotence, the
// stage-state cache, context, and the eventSourcedStore wrapper.
import { createInMemoryBackend, InMemoryEventStore, type StageExecution, Transaction, Workflow, WorkflowStatus } from '@stabilize/core';
import { describe, expect, it } from 'vitest';
import { configureEventSourcing, createEventRecorder, EventReplayer, eventSourcedStore, type StageChange, type WorkflowChangedData, withEventContext } from '../src/index.js';
import { plain, replayMismatches } from './support/backends.js';
import { stage } from './support/harness.js';

function setup() {
  const { store, queue } = createInMemoryBackend();
  const events = new InMemoryEventStore(store);
  const recorder = configureEventSourcing(events);
  const recorded = eventSourcedStore(store, recorder);
  return { store, queue, events, recorder, recorded, replayer: new EventReplayer(events) };
}

const twoStages = () => Workflow.create({ application: 'rec', name: 'two', context: { a: 1 }, stages: [stage('a', ['success', 'success']), stage('b', ['success'], ['a'])] });

describe('EventSourcingRecorder', () => {
  it('envelope of a reported event: ULID, correlation = workflow, causation = the consumed delivery, actor, schema', () => {
    const recorder = createEventRecorder({ actor: 'engine' });
    const tx = new Transaction().consume({ deliveryId: '77', leaseToken: 'x' });
    recorder.record(tx, { eventType: 'stage.started', entityType: 'stage', entityId: 's', workflowId: 'w', version: 2, data: { ref_id: 'a' }, sourceHandler: 'StartStageHandler', timestamp: 5 });
    expect(tx.events[0]).toMatchObject({ eventType: 'stage.started', correlationId: 'w', causationId: '77', actor: 'engine', sourceHandler: 'StartStageHandler', schemaVersion: 1, sequence: 0, position: 0, timestamp: 5, version: 2 });
    expect(tx.events[0]!.eventId).toMatch(/^[0-9A-HJKMNP-TV-Z]{26}$/);
    withEventContext({ actor: 'ann', causationId: 'request-9' }, () => recorder.record(tx, { eventType: 'x', entityType: 'workflow', entityId: 'w', workflowId: 'w', version: 0, data: {}, sourceHandler: 'H', timestamp: 6 }));
    expect(tx.events[1]).toMatchObject({ actor: 'ann', causationId: 'request-9' });
  });

  it('an inserted workflow gets workflow.created with its whole definition (createdAt fixed before the commit)', async () => {
    const { recorded, store, events, replayer } = setup();
    const w = twoStages();
    expect(w.createdAt).toBeNull();
    await recorded.store(w);
    expect(w.createdAt).not.toBeNull();
    const [created] = await events.readWorkflow(w.id);
    expect(created).toMatchObject({ eventType: 'workflow.created', sequence: 1, data: { application: 'rec', name: 'two', stage_count: 2, initial_stage_count: 1 } });
    expect(plain(await replayer.rebuildWorkflowState(w.id))).toEqual(plain(await store.retrieve(w.id)));
  });

  it('workflow.changed carries only the changed fields of each write; unreported transitions become status.changed', async () => {
    const { recorded, store, events, replayer } = setup();
    const w = twoStages();
    await recorded.store(w);
    const a = (await store.retrieve(w.id)).stages[0]!;
    a.status = WorkflowStatus.RUNNING;
    a.startTime = 1000;
    a.context.added = { deep: [1, 2] };
    a.tasks[0]!.status = WorkflowStatus.RUNNING;
    const tx = new Transaction().updateStage(a, WorkflowStatus.NOT_STARTED).updateWorkflow(w, { status: WorkflowStatus.RUNNING, startTime: 1000 }, WorkflowStatus.NOT_STARTED);
    await recorded.commit(tx);
    const changed = tx.events.find((e) => e.eventType === 'workflow.changed')!;
    const data = changed.data as WorkflowChangedData;
    expect(data.workflow).toEqual({ status: 'RUNNING', startTime: 1000 });
    expect(data.stages![a.id]).toEqual<StageChange>({ version: 1, status: 'RUNNING', startTime: 1000, context: { set: { added: { deep: [1, 2] } } }, tasks: { [a.tasks[0]!.id]: { status: 'RUNNING' } } });
    // Ordered created -> changed -> derived within the transaction; all one timestamp.
    expect(tx.events.map((e) => [e.eventType, e.entityType, e.data.new_status ?? null])).toEqual([
      ['workflow.changed', 'workflow', null],
      ['status.changed', 'workflow', 'RUNNING'],
      ['status.changed', 'stage', 'RUNNING'],
      ['status.changed', 'task', 'RUNNING'],
    ]);
    expect(new Set(tx.events.map((e) => e.timestamp)).size).toBe(1);
    expect(plain(await replayer.rebuildWorkflowState(w.id))).toEqual(plain(await store.retrieve(w.id)));

    // Removing a key and replacing the task list.
    const again = (await store.retrieve(w.id)).stages[0]!;
    delete again.context.added;
    again.tasks = [again.tasks[1]!];
    const tx2 = new Transaction().updateStage(again);
    await recorded.commit(tx2);
    const change2 = (tx2.events[0]!.data as WorkflowChangedData).stages![again.id]!;
    expect(change2.context).toEqual({ unset: ['added'] });
    expect(change2.taskList).toHaveLength(1);
    expect((await events.readWorkflow(w.id)).map((e) => e.sequence)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(plain(await replayer.rebuildWorkflowState(w.id))).toEqual(plain(await store.retrieve(w.id)));
  });

  it('a reported event for an entity suppresses the derived status.changed for it', async () => {
    const { recorded, recorder, store } = setup();
    const w = twoStages();
    await recorded.store(w);
    const a = (await store.retrieve(w.id)).stages[0]!;
    a.status = WorkflowStatus.RUNNING;
    const tx = new Transaction().updateStage(a);
    recorder.record(tx, { eventType: 'stage.started', entityType: 'stage', entityId: a.id, workflowId: w.id, version: 1, data: {}, sourceHandler: 'StartStageHandler', timestamp: 9 });
    await recorded.commit(tx);
    expect(tx.events.map((e) => e.eventType)).toEqual(['workflow.changed', 'stage.started']);
    expect(tx.events[0]!.sourceHandler).toBe('StartStageHandler');
    expect(tx.events[0]!.timestamp).toBe(9);
  });

  it('each transaction is handled once, even when two wrappers share the recorder; nothing for a transaction without writes', async () => {
    const { store, recorder, recorded } = setup();
    const twice = eventSourcedStore(recorded, recorder);
    const w = twoStages();
    const tx = new Transaction().insertWorkflow(w);
    await twice.commit(tx);
    expect(tx.events.map((e) => e.eventType)).toEqual(['workflow.created']);
    const empty = new Transaction();
    await recorder.beforeCommit(empty, store);
    expect(empty.events).toEqual([]);
  });

  it('diffs against the states of its own commits without reading the store (cache checked by version)', async () => {
    const { store, recorded } = setup();
    const w = twoStages();
    await recorded.store(w);
    let reads = 0;
    const retrieveStage = store.retrieveStage.bind(store);
    store.retrieveStage = async (id: string) => {
      reads += 1;
      return retrieveStage(id);
    };
    const step = async (mutate: (s: StageExecution) => void) => {
      const s = await retrieveStage(w.stages[0]!.id);
      mutate(s);
      await recorded.commit(new Transaction().updateStage(s));
    };
    await step((s) => void (s.context.n = 1));
    await step((s) => void (s.context.n = 2));
    await step((s) => void (s.context.n = 3));
    expect(reads).toBe(0);
    // Someone else writes: the version moves on, the recorder reads the store again.
    const foreign = await retrieveStage(w.stages[0]!.id);
    foreign.context.n = 99;
    await store.commit(new Transaction().updateStage(foreign)); // not recorded
    await step((s) => void (s.context.n = 4));
    expect(reads).toBe(1);
  });

  it('publishes committed events on its bus, once, and only with subscribers', async () => {
    const { recorded, recorder } = setup();
    const got: string[] = [];
    recorder.bus.subscribe((e) => void got.push(`${e.eventType}#${e.sequence}`));
    const w = twoStages();
    await recorded.store(w);
    expect(got).toEqual(['workflow.created#1']);
    const quiet = createEventRecorder({ publish: false });
    const seen: string[] = [];
    quiet.bus.subscribe((e) => void seen.push(e.eventType));
    const { store } = createInMemoryBackend();
    await eventSourcedStore(store, quiet).store(twoStages());
    expect(seen).toEqual([]);
  });

  it('a store that commits in groups gets publication deferred until the commit is durable (whenDurable)', async () => {
    const { store, events } = setup();
    const durable: Array<() => void> = [];
    const grouped = Object.assign(Object.create(store) as typeof store, { whenDurable: (callback: () => void) => durable.push(callback) });
    const recorder = configureEventSourcing(events);
    const got: string[] = [];
    recorder.bus.subscribe((e) => void got.push(e.eventType));
    await eventSourcedStore(grouped, recorder).store(twoStages());
    expect(got).toEqual([]);
    for (const callback of durable) callback();
    expect(got).toEqual(['workflow.created']);
  });

  it('the replay check is not vacuous: a write that bypasses the recorder is reported', async () => {
    const { store, recorded, events } = setup();
    const w = twoStages();
    await recorded.store(w);
    expect((await replayMismatches(store, events)).mismatches).toEqual([]);
    const b = (await store.retrieve(w.id)).stages[1]!;
    b.outputs = { sneaky: true };
    await store.commit(new Transaction().updateStage(b)); // not recorded
    const { mismatches } = await replayMismatches(store, events);
    expect(mismatches).toHaveLength(1);
    expect(mismatches[0]).toContain('.outputs.sneaky');
    expect(mismatches[0]).toContain('.version');
  });

  it('assigning a method on the wrapper overrides it there and leaves the wrapped store alone', async () => {
    const { store, recorded, events } = setup();
    const inner = store.commit;
    const seen: number[] = [];
    const original = recorded.commit.bind(recorded);
    recorded.commit = (tx: Transaction) => {
      seen.push(tx.messages.length);
      return original(tx);
    };
    expect(store.commit).toBe(inner);
    const w = twoStages();
    await recorded.commit(new Transaction().insertWorkflow(w));
    expect(seen).toEqual([0]);
    expect((await events.readWorkflow(w.id)).map((e) => e.eventType)).toEqual(['workflow.created']);
  });
});
