// The store and queue contract every backend must honour, tested once here and run on each backend.
import { describe, expect, it } from 'vitest';
import { ManualClock } from '../clock.js';
import { ClaimBlockedError, ConcurrencyError, LeaseLostError, StageNotFoundError, WorkflowNotFoundError } from '../errors.js';
import { Messages } from '../messages/messages.js';
import { StageExecution } from '../model/stage-execution.js';
import { WorkflowStatus } from '../model/status.js';
import { TaskExecution } from '../model/task-execution.js';
import { Workflow } from '../model/workflow.js';
import { Transaction } from '../store/transaction.js';
import type { BackendFactory, BackendUnderTest } from './backend.js';

function sampleWorkflow(): Workflow {
  return Workflow.create({
    application: 'contract',
    name: 'sample',
    context: { wf: { nested: [1, 'two', null, true] } },
    trigger: { type: 'api', user: 'ann', parameters: { p: 1 } },
    pipelineConfigId: 'cfg-1',
    isLimitConcurrent: true,
    maxConcurrentExecutions: 2,
    stages: [
      new StageExecution({
        refId: 'a',
        type: 'build',
        name: 'Build',
        context: { unicode: 'größe ✓', list: [1, 2], obj: { k: 'v' } },
        tasks: [TaskExecution.create({ name: 't1', implementingClass: 'x' }), TaskExecution.create({ name: 't2', implementingClass: 'y' })],
        joinType: 'N_OF_M',
        joinThreshold: 1,
        splitType: 'OR',
        splitConditions: { b: 'x > 1' },
        mutexKey: 'm',
        cancelRegion: 'r',
        deferredChoiceGroup: 'g',
        milestoneRefId: 'b',
        milestoneStatus: 'RUNNING',
        outputReducers: { x: 'collect' },
        startTimeExpiry: 123,
        miConfig: { allowDynamic: true },
      }),
      new StageExecution({ refId: 'b', requisiteStageRefIds: ['a'], tasks: [TaskExecution.create({ name: 't', implementingClass: 'x' })] }),
      new StageExecution({ refId: 'c', requisiteStageRefIds: ['a'] }),
    ],
  });
}

export function backendContract(factory: BackendFactory): void {
  const withBackend = (fn: (b: BackendUnderTest, clock: ManualClock) => Promise<void>) => async () => {
    const clock = new ManualClock();
    const backend = await factory.create(clock);
    try {
      await fn(backend, clock);
    } finally {
      await backend.close();
    }
  };

  describe('store contract', () => {
    it(
      'round-trips every field of workflows, stages and tasks',
      withBackend(async ({ store }) => {
        const original = sampleWorkflow();
        await store.store(original);
        const loaded = await store.retrieve(original.id);
        expect(loaded.id).toBe(original.id);
        expect(loaded.application).toBe('contract');
        expect(loaded.context).toEqual(original.context);
        expect(loaded.trigger).toEqual(original.trigger);
        expect(loaded.pipelineConfigId).toBe('cfg-1');
        expect(loaded.isLimitConcurrent).toBe(true);
        expect(loaded.maxConcurrentExecutions).toBe(2);
        expect(loaded.status).toBe(WorkflowStatus.NOT_STARTED);
        expect(loaded.stages.map((s) => s.refId)).toEqual(['a', 'b', 'c']);
        const a = loaded.stages[0]!;
        const expectedA = original.stages[0]!;
        for (const key of ['id', 'type', 'name', 'context', 'joinType', 'joinThreshold', 'splitType', 'splitConditions', 'mutexKey', 'cancelRegion', 'deferredChoiceGroup', 'milestoneRefId', 'milestoneStatus', 'outputReducers', 'startTimeExpiry', 'miConfig', 'version'] as const) {
          expect(a[key], key).toEqual(expectedA[key]);
        }
        expect(a.executionId).toBe(original.id);
        expect(a.tasks.map((t) => [t.id, t.name, t.implementingClass])).toEqual(expectedA.tasks.map((t) => [t.id, t.name, t.implementingClass]));
        expect(loaded.stages[1]!.requisiteStageRefIds).toEqual(['a']);
        const header = await store.retrieveWorkflowOnly(original.id);
        expect(header.stages).toEqual([]);
        expect(header.name).toBe('sample');
      }),
    );

    it(
      'answers the neighbour queries handlers use',
      withBackend(async ({ store }) => {
        const w = sampleWorkflow();
        const parent = w.stages[1]!;
        const child = StageExecution.createSynthetic({ parent, owner: 'STAGE_BEFORE', name: 'setup' });
        w.addStage(child);
        await store.store(w);
        expect((await store.retrieveDownstreamStages(w.id, 'a')).map((s) => s.refId)).toEqual(['b', 'c']);
        expect((await store.retrieveStagesByRefIds(w.id, ['c', 'a', 'zzz'])).map((s) => s.refId).sort()).toEqual(['a', 'c']);
        expect((await store.retrieveSyntheticStages(parent.id)).map((s) => s.id)).toEqual([child.id]);
        const summaries = await store.retrieveStageSummaries(w.id);
        expect(summaries.map((s) => [s.refId, s.status, s.parentStageId])).toEqual([
          ['a', 'NOT_STARTED', null],
          ['b', 'NOT_STARTED', null],
          ['c', 'NOT_STARTED', null],
          [child.refId, 'NOT_STARTED', parent.id],
        ]);
        await expect(store.retrieve('missing')).rejects.toBeInstanceOf(WorkflowNotFoundError);
        await expect(store.retrieveStage('missing')).rejects.toBeInstanceOf(StageNotFoundError);
        // The optional combined read (every backend here offers it) equals the two separate reads.
        if (!store.retrieveStageWithWorkflow) throw new Error('expected retrieveStageWithWorkflow on the reference backends');
        const both = await store.retrieveStageWithWorkflow(child.id);
        expect(JSON.parse(JSON.stringify(both.stage))).toEqual(JSON.parse(JSON.stringify(await store.retrieveStage(child.id))));
        expect(JSON.parse(JSON.stringify(both.workflow))).toEqual(JSON.parse(JSON.stringify(await store.retrieveWorkflowOnly(w.id))));
        await expect(store.retrieveStageWithWorkflow('missing')).rejects.toBeInstanceOf(StageNotFoundError);
        expect(await store.countWorkflows({ pipelineConfigId: 'cfg-1', statuses: [WorkflowStatus.NOT_STARTED] })).toBe(1);
        expect((await store.listWorkflows({ application: 'contract' })).map((x) => x.id)).toEqual([w.id]);
      }),
    );

    it(
      'lists workflows oldest or newest first, with keyset pagination both ways',
      withBackend(async ({ store }) => {
        const ids: string[] = [];
        for (let i = 0; i < 5; i++) {
          const w = Workflow.create({ application: 'ordered', name: `w${i}`, stages: [] });
          ids.push(w.id);
          await store.store(w);
        }
        const list = async (q: Parameters<typeof store.listWorkflows>[0]) => (await store.listWorkflows({ application: 'ordered', ...q })).map((x) => x.id);
        expect(await list({})).toEqual(ids);
        expect(await list({ order: 'asc', limit: 2 })).toEqual(ids.slice(0, 2));
        expect(await list({ order: 'desc' })).toEqual([...ids].reverse());
        expect(await list({ order: 'desc', limit: 2 })).toEqual([ids[4], ids[3]]);
        expect(await list({ order: 'desc', afterId: ids[3]!, limit: 2 })).toEqual([ids[2], ids[1]]);
        expect(await list({ order: 'asc', afterId: ids[3]! })).toEqual([ids[4]]);
        expect(await store.countWorkflows({ application: 'ordered', order: 'desc', afterId: ids[3]! })).toBe(3);
      }),
    );

    it(
      'counts workflows by status in one call, for the whole database or one application',
      withBackend(async ({ store }) => {
        expect(await store.countWorkflowsByStatus()).toEqual({});
        const make = (application: string, status: WorkflowStatus) => store.store(Workflow.create({ application, name: `${application} ${status}`, status, stages: [] }));
        for (const status of [WorkflowStatus.RUNNING, WorkflowStatus.RUNNING, WorkflowStatus.TERMINAL, WorkflowStatus.CANCELED, WorkflowStatus.SUCCEEDED]) await make('shop', status);
        for (const status of [WorkflowStatus.RUNNING, WorkflowStatus.SUCCEEDED, WorkflowStatus.SUCCEEDED, WorkflowStatus.NOT_STARTED]) await make('billing', status);
        expect(await store.countWorkflowsByStatus()).toEqual({ RUNNING: 3, TERMINAL: 1, CANCELED: 1, SUCCEEDED: 3, NOT_STARTED: 1 });
        expect(await store.countWorkflowsByStatus({})).toEqual(await store.countWorkflowsByStatus());
        expect(await store.countWorkflowsByStatus({ application: 'shop' })).toEqual({ RUNNING: 2, TERMINAL: 1, CANCELED: 1, SUCCEEDED: 1 });
        expect(await store.countWorkflowsByStatus({ application: 'billing' })).toEqual({ RUNNING: 1, SUCCEEDED: 2, NOT_STARTED: 1 });
        expect(await store.countWorkflowsByStatus({ application: 'nobody' })).toEqual({});
        // Status changes through commits show up.
        const [first] = await store.listWorkflows({ application: 'billing', statuses: [WorkflowStatus.RUNNING] });
        await store.commit(new Transaction().updateWorkflow(first!, { status: WorkflowStatus.TERMINAL }));
        expect(await store.countWorkflowsByStatus({ application: 'billing' })).toEqual({ TERMINAL: 1, SUCCEEDED: 2, NOT_STARTED: 1 });
      }),
    );

    it(
      'reads the stage summaries of several workflows in one call',
      withBackend(async ({ store }) => {
        const a = sampleWorkflow();
        const child = StageExecution.createSynthetic({ parent: a.stages[1]!, owner: 'STAGE_BEFORE', name: 'setup' });
        a.addStage(child);
        const b = Workflow.create({ application: 'contract', name: 'other', stages: [new StageExecution({ refId: 'z', status: WorkflowStatus.TERMINAL, context: { error: 'boom' }, outputs: { n: 1 } }), new StageExecution({ refId: 'y' })] });
        const empty = Workflow.create({ application: 'contract', name: 'empty', stages: [] });
        for (const w of [a, b, empty]) await store.store(w);
        const byId = await store.retrieveStageSummariesFor([b.id, 'missing', a.id, empty.id, b.id]);
        expect([...byId.keys()].sort()).toEqual([a.id, b.id, empty.id, 'missing'].sort());
        expect(byId.get(a.id)).toEqual(await store.retrieveStageSummaries(a.id));
        expect(byId.get(a.id)!.map((s) => [s.refId, s.parentStageId])).toEqual([
          ['a', null],
          ['b', null],
          ['c', null],
          [child.refId, a.stages[1]!.id],
        ]);
        expect(byId.get(b.id)).toEqual(await store.retrieveStageSummaries(b.id));
        expect(byId.get(b.id)!.map((s) => [s.refId, s.status, s.context, s.outputs])).toEqual([
          ['z', 'TERMINAL', { error: 'boom' }, { n: 1 }],
          ['y', 'NOT_STARTED', {}, {}],
        ]);
        expect(byId.get(empty.id)).toEqual([]);
        expect(byId.get('missing')).toEqual([]);
        expect((await store.retrieveStageSummariesFor([])).size).toBe(0);
      }),
    );

    it(
      'rejects a stale stage write (optimistic version) and an unexpected status',
      withBackend(async ({ store }) => {
        const w = sampleWorkflow();
        await store.store(w);
        const first = await store.retrieveStage(w.stages[0]!.id);
        const second = await store.retrieveStage(w.stages[0]!.id);
        first.status = WorkflowStatus.RUNNING;
        first.context.who = 'first';
        first.tasks[0]!.status = WorkflowStatus.RUNNING;
        await store.commit(new Transaction().updateStage(first, WorkflowStatus.NOT_STARTED));
        expect(first.version).toBe(1);
        second.context.who = 'second';
        await expect(store.commit(new Transaction().updateStage(second))).rejects.toBeInstanceOf(ConcurrencyError);
        const fresh = await store.retrieveStage(w.stages[0]!.id);
        await expect(store.commit(new Transaction().updateStage(fresh, WorkflowStatus.NOT_STARTED))).rejects.toBeInstanceOf(ConcurrencyError);
        expect(fresh.context.who).toBe('first');
        expect(fresh.tasks[0]!.status).toBe(WorkflowStatus.RUNNING);
        expect(fresh.version).toBe(1);
      }),
    );

    it(
      'commits all or nothing: a failing part leaves state and queue untouched',
      withBackend(async ({ store, queue }) => {
        const w = sampleWorkflow();
        await store.store(w);
        const a = await store.retrieveStage(w.stages[0]!.id);
        const b = await store.retrieveStage(w.stages[1]!.id);
        const stale = await store.retrieveStage(w.stages[1]!.id);
        await store.commit(new Transaction().updateStage(b));
        a.status = WorkflowStatus.RUNNING;
        const tx = new Transaction().updateStage(a).updateStage(stale).push(Messages.startWorkflow(w.id)).updateWorkflow(w, { status: WorkflowStatus.RUNNING });
        await expect(store.commit(tx)).rejects.toBeInstanceOf(ConcurrencyError);
        expect((await store.retrieveStage(a.id)).status).toBe(WorkflowStatus.NOT_STARTED);
        expect((await store.retrieveWorkflowOnly(w.id)).status).toBe(WorkflowStatus.NOT_STARTED);
        expect(await queue.size()).toBe(0);
      }),
    );

    it(
      'consumes the handled delivery in the same transaction, and only while its lease holds',
      withBackend(async ({ store, queue }, clock) => {
        const w = sampleWorkflow();
        await store.store(w);
        await queue.push(Messages.startWorkflow(w.id));
        const [delivery] = await queue.poll({ limit: 1, leaseMs: 1000 });
        expect(delivery).toBeDefined();
        clock.advance(1001);
        const [stolen] = await queue.poll({ limit: 1, leaseMs: 1000 });
        expect(stolen!.id).toBe(delivery!.id);
        expect(stolen!.attempts).toBe(2);
        const tx = new Transaction()
          .consume({ deliveryId: delivery!.id, leaseToken: delivery!.leaseToken })
          .updateWorkflow(w, { status: WorkflowStatus.RUNNING })
          .push(Messages.completeWorkflow(w.id));
        await expect(store.commit(tx)).rejects.toBeInstanceOf(LeaseLostError);
        expect((await store.retrieveWorkflowOnly(w.id)).status).toBe(WorkflowStatus.NOT_STARTED);
        expect(await queue.size()).toBe(1);
        expect(await queue.ack(delivery!)).toBe(false);
        expect(await queue.extendLease(delivery!, 1000)).toBe(false);
        expect(await queue.reschedule(delivery!, 0)).toBe(false);
        await store.commit(new Transaction().consume({ deliveryId: stolen!.id, leaseToken: stolen!.leaseToken }).updateWorkflow(w, { status: WorkflowStatus.RUNNING }));
        expect(await queue.size()).toBe(0);
        expect((await store.retrieveWorkflowOnly(w.id)).status).toBe(WorkflowStatus.RUNNING);
      }),
    );

    it(
      'claims: first stage wins; stealing only from a finished owner',
      withBackend(async ({ store }) => {
        const w = sampleWorkflow();
        await store.store(w);
        const [a, b] = w.stages;
        await store.commit(new Transaction().acquireClaim({ executionId: w.id, claimKey: 'mutex:m', stageId: a!.id, stealIfOwnerComplete: true }));
        await store.commit(new Transaction().acquireClaim({ executionId: w.id, claimKey: 'mutex:m', stageId: a!.id, stealIfOwnerComplete: true }));
        await expect(store.commit(new Transaction().acquireClaim({ executionId: w.id, claimKey: 'mutex:m', stageId: b!.id, stealIfOwnerComplete: true }))).rejects.toBeInstanceOf(ClaimBlockedError);
        const owner = await store.retrieveStage(a!.id);
        owner.status = WorkflowStatus.SUCCEEDED;
        await store.commit(new Transaction().updateStage(owner));
        await expect(store.commit(new Transaction().acquireClaim({ executionId: w.id, claimKey: 'mutex:m', stageId: b!.id, stealIfOwnerComplete: false }))).rejects.toBeInstanceOf(ClaimBlockedError);
        await store.commit(new Transaction().acquireClaim({ executionId: w.id, claimKey: 'mutex:m', stageId: b!.id, stealIfOwnerComplete: true }));
      }),
    );
  });

  describe('queue contract', () => {
    it(
      'delivers due messages oldest first, each to one poller at a time',
      withBackend(async ({ queue }, clock) => {
        await queue.push(Messages.startWorkflow('w1'));
        await queue.push(Messages.startWorkflow('w2'));
        await queue.push(Messages.startWorkflow('later'), { delayMs: 5000 });
        expect(await queue.size()).toBe(3);
        const first = await queue.poll({ limit: 10, leaseMs: 60_000 });
        expect(first.map((d) => (d.message as { executionId: string }).executionId)).toEqual(['w1', 'w2']);
        expect(first.every((d) => d.attempts === 1)).toBe(true);
        expect(await queue.poll({ limit: 10, leaseMs: 60_000 })).toEqual([]);
        expect(await queue.nextDeliveryTime()).toBe(clock.now() + 5000);
        clock.advance(5000);
        const later = await queue.poll({ limit: 10, leaseMs: 60_000 });
        expect(later.map((d) => d.message)).toEqual([Messages.startWorkflow('later')]);
        for (const d of [...first, ...later]) expect(await queue.ack(d)).toBe(true);
        expect(await queue.size()).toBe(0);
        expect(await queue.nextDeliveryTime()).toBeNull();
      }),
    );

    it(
      'heartbeats keep a lease; reschedule delays and keeps attempts',
      withBackend(async ({ queue }, clock) => {
        await queue.push(Messages.startWorkflow('w'));
        const [d] = await queue.poll({ limit: 1, leaseMs: 1000 });
        clock.advance(900);
        expect(await queue.extendLease(d!, 1000)).toBe(true);
        clock.advance(900);
        expect(await queue.poll({ limit: 1, leaseMs: 1000 })).toEqual([]);
        expect(await queue.reschedule(d!, 2000, 'boom')).toBe(true);
        expect(await queue.poll({ limit: 1, leaseMs: 1000 })).toEqual([]);
        clock.advance(2000);
        const [again] = await queue.poll({ limit: 1, leaseMs: 1000 });
        expect(again!.attempts).toBe(2);
        expect(await queue.hasPendingMessageForTask('nope')).toBe(false);
      }),
    );

    it(
      'reports ready, delayed, processing and dead letter counts at the queue clock',
      withBackend(async ({ queue }, clock) => {
        expect(await queue.stats()).toEqual({ ready: 0, delayed: 0, processing: 0, deadLetters: 0 });
        await queue.push(Messages.startWorkflow('a'));
        await queue.push(Messages.startWorkflow('b'));
        await queue.push(Messages.startWorkflow('c'));
        await queue.push(Messages.startWorkflow('later'), { delayMs: 5000 });
        await queue.push(Messages.startTask('w', 's', 'doomed'), { delayMs: 100, maxAttempts: 1 });
        expect(await queue.stats()).toEqual({ ready: 3, delayed: 2, processing: 0, deadLetters: 0 });
        const [leased] = await queue.poll({ limit: 1, leaseMs: 1000 });
        expect((leased!.message as { executionId: string }).executionId).toBe('a');
        expect(await queue.stats()).toEqual({ ready: 2, delayed: 2, processing: 1, deadLetters: 0 });
        // The doomed message becomes due, is claimed once and, out of attempts, dead-lettered.
        clock.advance(100);
        expect(await queue.stats()).toEqual({ ready: 3, delayed: 1, processing: 1, deadLetters: 0 });
        const claimed = await queue.poll({ limit: 3, leaseMs: 60_000 });
        expect(claimed).toHaveLength(3);
        const doomed = claimed.find((d) => d.message.type === 'StartTask')!;
        expect(await queue.reschedule(doomed, 0, 'boom')).toBe(true);
        expect(await queue.stats()).toEqual({ ready: 0, delayed: 1, processing: 3, deadLetters: 1 });
        // An expired lease makes its message ready again; a rescheduled one is delayed.
        clock.advance(1000);
        const b = claimed.find((d) => (d.message as { executionId?: string }).executionId === 'b')!;
        expect(await queue.reschedule(b, 2000)).toBe(true);
        expect(await queue.stats()).toEqual({ ready: 1, delayed: 2, processing: 1, deadLetters: 1 });
        expect(await queue.size()).toBe(4);
        expect(await queue.ack(claimed.find((d) => (d.message as { executionId?: string }).executionId === 'c')!)).toBe(true);
        expect(await queue.stats()).toEqual({ ready: 1, delayed: 2, processing: 0, deadLetters: 1 });
      }),
    );

    it(
      'moves a message to the dead letters after max attempts and replays it',
      withBackend(async ({ queue }) => {
        await queue.push(Messages.startTask('w', 's', 'task-1'), { maxAttempts: 2 });
        expect(await queue.hasPendingMessageForTask('task-1')).toBe(true);
        const [d1] = await queue.poll({ limit: 1, leaseMs: 1000 });
        await queue.reschedule(d1!, 0, 'first failure');
        const [d2] = await queue.poll({ limit: 1, leaseMs: 1000 });
        expect(d2!.attempts).toBe(2);
        await queue.reschedule(d2!, 0, 'second failure');
        expect(await queue.size()).toBe(0);
        expect(await queue.deadLetterCount()).toBe(1);
        const [letter] = await queue.listDeadLetters();
        expect(letter!.messageType).toBe('StartTask');
        expect(letter!.message).toEqual(Messages.startTask('w', 's', 'task-1'));
        expect(letter!.error).toContain('second failure');
        expect(await queue.replayDeadLetter(letter!.id)).toBe(true);
        expect(await queue.deadLetterCount()).toBe(0);
        const [replayed] = await queue.poll({ limit: 1, leaseMs: 1000 });
        expect(replayed!.attempts).toBe(1);
        expect(replayed!.message).toEqual(Messages.startTask('w', 's', 'task-1'));
      }),
    );

    it(
      'wakes a waiting worker when a message is pushed',
      withBackend(async ({ queue }) => {
        const started = performance.now();
        const waiting = queue.waitForMessages(5000);
        setTimeout(() => void queue.push(Messages.startWorkflow('w')), 20);
        await waiting;
        expect(performance.now() - started).toBeLessThan(2500);
      }),
    );
  });
}
