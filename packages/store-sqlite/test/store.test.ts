import {
  ClaimBlockedError,
  ConcurrencyError,
  CorruptDataError,
  CorruptRowError,
  LeaseLostError,
  ManualClock,
  Messages,
  StageExecution,
  StageNotFoundError,
  TaskExecution,
  Transaction,
  ValidationError,
  Workflow,
  WorkflowNotFoundError,
  WorkflowStatus,
} from '@stabilize/core';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openSqliteBackend, type SqliteBackend } from '../src/index.js';
import { tempDir } from './support/temp.js';

const S = WorkflowStatus;

/** A workflow that sets every field to something other than its default. */
function fullWorkflow(): Workflow {
  const a = new StageExecution({
    refId: 'a',
    type: 'build',
    name: 'Build',
    status: S.RUNNING,
    context: { unicode: 'größe ✓ 😀', list: [1, 2.5, null, true], nested: { deep: { x: 'y' } }, quote: 'it\'s "quoted"\n' },
    outputs: { out: 1 },
    tasks: [
      TaskExecution.create({
        name: 't1',
        implementingClass: 'x',
        status: S.SUCCEEDED,
        startTime: 11,
        endTime: 12,
        stageStart: true,
        stageEnd: false,
        loopStart: true,
        loopEnd: true,
        taskExceptionDetails: { error: 'boom' },
        version: 3,
      }),
      TaskExecution.create({ name: 't2', implementingClass: 'y', stageEnd: true }),
    ],
    startTime: 100,
    endTime: 200,
    startTimeExpiry: 300,
    scheduledTime: 400,
    version: 0,
    joinType: 'N_OF_M',
    joinThreshold: 2,
    splitType: 'XOR',
    splitConditions: { b: 'x > 1' },
    miConfig: { count: 3, syncOnComplete: true, cancelRemaining: false },
    deferredChoiceGroup: 'g',
    milestoneRefId: 'b',
    milestoneStatus: S.SUSPENDED,
    mutexKey: 'm',
    cancelRegion: 'r',
    outputReducers: { x: 'collect' },
    ancestorOutputs: { fromUpstream: [1] },
  });
  const b = new StageExecution({ refId: 'b', requisiteStageRefIds: ['a'], joinType: 'OR' });
  const c = new StageExecution({ refId: 'c', requisiteStageRefIds: ['a', 'b'] });
  const before = StageExecution.createSynthetic({ parent: b, owner: 'STAGE_BEFORE', refId: 'b-before', name: 'setup' });
  const after = StageExecution.createSynthetic({ parent: b, owner: 'STAGE_AFTER', refId: 'b-after', name: 'teardown' });
  return new Workflow({
    type: 'ORCHESTRATION',
    application: 'app',
    name: 'full',
    status: S.PAUSED,
    stages: [a, b, c, before, after],
    context: { wf: { n: [1, 'two'] } },
    trigger: { type: 'api', user: 'ann', parameters: { p: 1 }, artifacts: [{ a: 1 }], payload: { q: true } },
    startTime: 1,
    endTime: 2,
    startTimeExpiry: 3,
    isCanceled: true,
    canceledBy: 'bob',
    cancellationReason: 'because',
    paused: { pausedBy: 'carl', pauseTime: 5, resumeTime: null, pausedMs: 7 },
    pipelineConfigId: 'cfg',
    isLimitConcurrent: true,
    maxConcurrentExecutions: 4,
    keepWaitingPipelines: true,
    origin: 'cli',
    configVersion: 'v9',
    createdAt: 42,
  });
}

/** Plain data of a model object, for deep comparison. */
const data = (value: unknown) => JSON.parse(JSON.stringify(value));

describe('SqliteWorkflowStore', () => {
  let dir: ReturnType<typeof tempDir>;
  let clock: ManualClock;
  let backend: SqliteBackend;
  beforeEach(() => {
    dir = tempDir();
    clock = new ManualClock();
    backend = openSqliteBackend(dir.file(), { clock });
  });
  afterEach(async () => {
    await backend.close();
    dir.remove();
  });

  describe('round trips', () => {
    it('stores and retrieves every field of workflow, stages and tasks', async () => {
      const original = fullWorkflow();
      await backend.store.store(original);
      const loaded = await backend.store.retrieve(original.id);
      expect(loaded).toBeInstanceOf(Workflow);
      expect(loaded.stages[0]).toBeInstanceOf(StageExecution);
      expect(loaded.stages[0]!.tasks[0]).toBeInstanceOf(TaskExecution);
      expect(data(loaded)).toEqual(data(original));
    });

    it('keeps null/empty defaults as they are', async () => {
      const original = Workflow.create({ application: 'a', name: 'n', stages: [new StageExecution({ refId: 'x' })] });
      await backend.store.store(original);
      const loaded = await backend.store.retrieve(original.id);
      expect(data(loaded)).toEqual(data({ ...original, createdAt: clock.now() }));
      expect(loaded.paused).toBeNull();
      expect(loaded.stages[0]!.miConfig).toBeNull();
      expect(loaded.stages[0]!.ancestorOutputs).toBeNull();
    });

    it('stamps createdAt from the clock when the workflow has none, without touching the object', async () => {
      const w = Workflow.create({ application: 'a', name: 'n' });
      await backend.store.store(w);
      expect(w.createdAt).toBeNull();
      expect((await backend.store.retrieveWorkflowOnly(w.id)).createdAt).toBe(clock.now());
    });

    it('returns fresh objects on every read', async () => {
      const w = fullWorkflow();
      await backend.store.store(w);
      const one = await backend.store.retrieveStage(w.stages[0]!.id);
      one.context.changed = true;
      one.tasks[0]!.status = S.TERMINAL;
      const two = await backend.store.retrieveStage(w.stages[0]!.id);
      expect(two.context.changed).toBeUndefined();
      expect(two.tasks[0]!.status).toBe(S.SUCCEEDED);
    });

    it('orders tasks by position, not by id', async () => {
      const tasks = ['z', 'm', 'a'].map((id) => TaskExecution.create({ id: `task-${id}`, name: id, implementingClass: 'x' }));
      const w = Workflow.create({ application: 'a', name: 'n', stages: [new StageExecution({ refId: 's', tasks })] });
      await backend.store.store(w);
      expect((await backend.store.retrieveStage(w.stages[0]!.id)).tasks.map((t) => t.id)).toEqual(['task-z', 'task-m', 'task-a']);
      expect((await backend.store.retrieve(w.id)).stages[0]!.tasks.map((t) => t.id)).toEqual(['task-z', 'task-m', 'task-a']);
    });

    it('retrieveWorkflowOnly has no stages; missing rows raise typed errors', async () => {
      const w = fullWorkflow();
      await backend.store.store(w);
      expect((await backend.store.retrieveWorkflowOnly(w.id)).stages).toEqual([]);
      await expect(backend.store.retrieve('nope')).rejects.toBeInstanceOf(WorkflowNotFoundError);
      await expect(backend.store.retrieveWorkflowOnly('nope')).rejects.toBeInstanceOf(WorkflowNotFoundError);
      await expect(backend.store.retrieveStage('nope')).rejects.toBeInstanceOf(StageNotFoundError);
    });

    it('store() validates first and refuses a second insert of the same id', async () => {
      const w = Workflow.create({ application: 'a', name: 'n', stages: [new StageExecution({ refId: 'x' })] });
      await backend.store.store(w);
      await expect(backend.store.store(w)).rejects.toBeInstanceOf(ConcurrencyError);
      const bad = new Workflow({ application: 'a', stages: [new StageExecution({ refId: 'x', requisiteStageRefIds: ['missing'] })] });
      await expect(backend.store.store(bad)).rejects.toBeInstanceOf(ValidationError);
      await expect(backend.store.retrieve(bad.id)).rejects.toBeInstanceOf(WorkflowNotFoundError);
    });
  });

  describe('neighbour queries', () => {
    it('downstream, by ref ids, synthetic children and summaries, in creation order', async () => {
      const w = fullWorkflow();
      await backend.store.store(w);
      const [a, b, c, before, after] = w.stages;
      const { store } = backend;
      expect((await store.retrieveDownstreamStages(w.id, 'a')).map((s) => s.refId)).toEqual(['b', 'c']);
      expect((await store.retrieveDownstreamStages(w.id, 'b')).map((s) => s.refId)).toEqual(['c']);
      expect(await store.retrieveDownstreamStages(w.id, 'c')).toEqual([]);
      expect(await store.retrieveDownstreamStages('other', 'a')).toEqual([]);
      const byRef = await store.retrieveStagesByRefIds(w.id, ['c', 'a', 'zzz']);
      expect(byRef.map((s) => s.refId)).toEqual(['a', 'c']);
      expect(byRef[0]!.tasks.map((t) => t.name)).toEqual(['t1', 't2']);
      expect(await store.retrieveStagesByRefIds(w.id, [])).toEqual([]);
      expect((await store.retrieveSyntheticStages(b!.id)).map((s) => s.id)).toEqual([before!.id, after!.id]);
      expect(await store.retrieveSyntheticStages(a!.id)).toEqual([]);
      const summaries = await store.retrieveStageSummaries(w.id);
      expect(summaries.map((s) => s.id)).toEqual([a, b, c, before, after].map((s) => s!.id));
      expect(summaries[0]).toEqual({
        id: a!.id,
        refId: 'a',
        status: S.RUNNING,
        requisiteStageRefIds: [],
        parentStageId: null,
        syntheticStageOwner: null,
        context: a!.context,
        outputs: { out: 1 },
      });
      expect(summaries[3]!.syntheticStageOwner).toBe('STAGE_BEFORE');
      expect(summaries[2]!.requisiteStageRefIds).toEqual(['a', 'b']);
      expect(c).toBeDefined();
    });

    it('a stage inserted later goes after the existing ones and is found downstream', async () => {
      const w = fullWorkflow();
      await backend.store.store(w);
      const late = new StageExecution({ refId: 'late', requisiteStageRefIds: ['a'], executionId: w.id, tasks: [TaskExecution.create({ name: 'l', implementingClass: 'x' })] });
      await backend.store.commit(new Transaction().insertStage(late));
      expect((await backend.store.retrieveStageSummaries(w.id)).at(-1)!.refId).toBe('late');
      expect((await backend.store.retrieveDownstreamStages(w.id, 'a')).map((s) => s.refId)).toEqual(['b', 'c', 'late']);
      expect((await backend.store.retrieveStage(late.id)).tasks.map((t) => t.name)).toEqual(['l']);
      const orphan = new StageExecution({ refId: 'o', executionId: 'no-such-workflow' });
      await expect(backend.store.commit(new Transaction().insertStage(orphan))).rejects.toBeInstanceOf(WorkflowNotFoundError);
    });
  });

  describe('list and count', () => {
    it('filters by application, config, statuses, start time and pages by id', async () => {
      const make = (i: number, init: Partial<ConstructorParameters<typeof Workflow>[0]>) => new Workflow({ id: `w${i}`, application: 'app', name: `n${i}`, ...init });
      const all = [
        make(1, { pipelineConfigId: 'cfg', status: S.RUNNING, startTime: 100 }),
        make(2, { pipelineConfigId: 'cfg', status: S.BUFFERED }),
        make(3, { pipelineConfigId: 'cfg', status: S.RUNNING, startTime: 50 }),
        make(4, { application: 'other', status: S.SUCCEEDED, startTime: 300 }),
      ];
      for (const w of all) await backend.store.store(w);
      const ids = (ws: Workflow[]) => ws.map((w) => w.id);
      const { store } = backend;
      expect(ids(await store.listWorkflows({}))).toEqual(['w1', 'w2', 'w3', 'w4']);
      expect(ids(await store.listWorkflows({ application: 'app' }))).toEqual(['w1', 'w2', 'w3']);
      expect(ids(await store.listWorkflows({ pipelineConfigId: 'cfg', statuses: [S.RUNNING] }))).toEqual(['w1', 'w3']);
      expect(ids(await store.listWorkflows({ statuses: [] }))).toEqual([]);
      expect(ids(await store.listWorkflows({ startedAfter: 100 }))).toEqual(['w1', 'w2', 'w4']);
      expect(ids(await store.listWorkflows({ limit: 2 }))).toEqual(['w1', 'w2']);
      expect(ids(await store.listWorkflows({ afterId: 'w2', limit: 1 }))).toEqual(['w3']);
      expect(await store.countWorkflows({ pipelineConfigId: 'cfg', statuses: [S.RUNNING] })).toBe(2);
      expect(await store.countWorkflows({ pipelineConfigId: 'cfg', statuses: [S.RUNNING, S.BUFFERED] })).toBe(3);
      expect(await store.countWorkflows({})).toBe(4);
      const listed = (await store.listWorkflows({ application: 'other' }))[0]!;
      expect(listed.stages).toEqual([]);
      expect(listed.status).toBe(S.SUCCEEDED);
    });
  });

  describe('commit', () => {
    it('writes a stage update: state, version, tasks; never the structure', async () => {
      const w = fullWorkflow();
      await backend.store.store(w);
      const stage = await backend.store.retrieveStage(w.stages[1]!.id);
      stage.status = S.RUNNING;
      stage.context = { now: 'running' };
      stage.outputs = { o: [1] };
      stage.startTime = 10;
      stage.endTime = 20;
      stage.ancestorOutputs = { a: 1 };
      stage.requisiteStageRefIds = ['changed'];
      stage.name = 'renamed';
      stage.tasks = [TaskExecution.create({ name: 'built later', implementingClass: 'x' })];
      await backend.store.commit(new Transaction().updateStage(stage, S.NOT_STARTED));
      expect(stage.version).toBe(1);
      const fresh = await backend.store.retrieveStage(stage.id);
      expect(fresh.version).toBe(1);
      expect(fresh.status).toBe(S.RUNNING);
      expect(fresh.context).toEqual({ now: 'running' });
      expect(fresh.outputs).toEqual({ o: [1] });
      expect([fresh.startTime, fresh.endTime]).toEqual([10, 20]);
      expect(fresh.ancestorOutputs).toEqual({ a: 1 });
      expect(fresh.tasks.map((t) => t.name)).toEqual(['built later']);
      expect(fresh.requisiteStageRefIds).toEqual(['a']);
      expect(fresh.name).toBe('');
      expect((await backend.store.retrieveDownstreamStages(w.id, 'a')).map((s) => s.refId)).toEqual(['b', 'c']);
    });

    it('upserts tasks by id with their position and drops the ones the stage no longer has', async () => {
      const w = fullWorkflow();
      await backend.store.store(w);
      const stage = await backend.store.retrieveStage(w.stages[0]!.id);
      const [t1, t2] = stage.tasks;
      t2!.status = S.RUNNING;
      const t3 = TaskExecution.create({ name: 't3', implementingClass: 'z' });
      stage.tasks = [t2!, t3];
      await backend.store.commit(new Transaction().updateStage(stage));
      const fresh = await backend.store.retrieveStage(stage.id);
      expect(fresh.tasks.map((t) => [t.name, t.status])).toEqual([
        ['t2', S.RUNNING],
        ['t3', S.NOT_STARTED],
      ]);
      expect(t1).toBeDefined();
    });

    it('rejects a stale version or an unexpected status with ConcurrencyError, and a missing stage', async () => {
      const w = fullWorkflow();
      await backend.store.store(w);
      const first = await backend.store.retrieveStage(w.stages[1]!.id);
      const second = await backend.store.retrieveStage(w.stages[1]!.id);
      first.status = S.RUNNING;
      await backend.store.commit(new Transaction().updateStage(first));
      await expect(backend.store.commit(new Transaction().updateStage(second))).rejects.toBeInstanceOf(ConcurrencyError);
      expect(second.version).toBe(0);
      const fresh = await backend.store.retrieveStage(first.id);
      await expect(backend.store.commit(new Transaction().updateStage(fresh, S.NOT_STARTED))).rejects.toThrow(/changed concurrently/);
      await backend.store.commit(new Transaction().updateStage(fresh, S.RUNNING));
      expect(fresh.version).toBe(2);
      const ghost = new StageExecution({ refId: 'ghost', executionId: w.id });
      await expect(backend.store.commit(new Transaction().updateStage(ghost))).rejects.toBeInstanceOf(StageNotFoundError);
    });

    it('updates only the workflow fields given, with an optional status compare-and-swap', async () => {
      const w = fullWorkflow();
      await backend.store.store(w);
      await backend.store.commit(new Transaction().updateWorkflow(w, { status: S.RUNNING, paused: null, isCanceled: false, endTime: null }, S.PAUSED));
      let fresh = await backend.store.retrieveWorkflowOnly(w.id);
      expect([fresh.status, fresh.paused, fresh.isCanceled, fresh.endTime]).toEqual([S.RUNNING, null, false, null]);
      expect([fresh.canceledBy, fresh.cancellationReason, fresh.startTime]).toEqual(['bob', 'because', 1]);
      await expect(backend.store.commit(new Transaction().updateWorkflow(w, { status: S.SUCCEEDED }, S.PAUSED))).rejects.toBeInstanceOf(ConcurrencyError);
      await expect(backend.store.commit(new Transaction().updateWorkflow(w, {}, S.PAUSED))).rejects.toBeInstanceOf(ConcurrencyError);
      await backend.store.commit(new Transaction().updateWorkflow(w, {}, S.RUNNING));
      await backend.store.commit(new Transaction().updateWorkflow(w, { paused: { pausedBy: 'x', pauseTime: 1, resumeTime: 2, pausedMs: 1 }, cancellationReason: 'r2' }));
      fresh = await backend.store.retrieveWorkflowOnly(w.id);
      expect(fresh.paused).toEqual({ pausedBy: 'x', pauseTime: 1, resumeTime: 2, pausedMs: 1 });
      expect(fresh.cancellationReason).toBe('r2');
      await expect(backend.store.commit(new Transaction().updateWorkflow({ id: 'missing' }, { status: S.RUNNING }))).rejects.toBeInstanceOf(WorkflowNotFoundError);
    });

    it('inserts a workflow, its stages and its start message together; a duplicate insert changes nothing', async () => {
      const w = fullWorkflow();
      await backend.store.commit(new Transaction().insertWorkflow(w).push(Messages.startWorkflow(w.id)));
      expect((await backend.store.retrieve(w.id)).stages).toHaveLength(5);
      expect(await backend.queue.size()).toBe(1);
      await expect(backend.store.commit(new Transaction().insertWorkflow(w).push(Messages.startWorkflow(w.id)))).rejects.toBeInstanceOf(ConcurrencyError);
      expect(await backend.queue.size()).toBe(1);
    });

    it('pushes messages due at now + delay with the task id indexed', async () => {
      const tx = new Transaction().push(Messages.runTask('w', 's', 'task-9', 'shell'), 1500).push(Messages.startWorkflow('w'));
      await backend.store.commit(tx);
      expect(await backend.queue.hasPendingMessageForTask('task-9')).toBe(true);
      expect(await backend.queue.nextDeliveryTime()).toBe(clock.now());
      const [first] = await backend.queue.poll({ limit: 10, leaseMs: 1000 });
      expect(first!.message).toEqual(Messages.startWorkflow('w'));
      expect(first!.maxAttempts).toBe(10);
      await backend.queue.ack(first!);
      expect(await backend.queue.nextDeliveryTime()).toBe(clock.now() + 1500);
    });

    it('is all or nothing: a stale consumed lease rolls back every other write', async () => {
      const w = fullWorkflow();
      await backend.store.store(w);
      await backend.queue.push(Messages.startWorkflow(w.id));
      const [delivery] = await backend.queue.poll({ limit: 1, leaseMs: 1000 });
      clock.advance(1001);
      const [stolen] = await backend.queue.poll({ limit: 1, leaseMs: 1000 });
      expect(stolen!.id).toBe(delivery!.id);

      const stage = await backend.store.retrieveStage(w.stages[1]!.id);
      stage.status = S.RUNNING;
      stage.tasks = [TaskExecution.create({ name: 'new', implementingClass: 'x' })];
      const extra = new StageExecution({ refId: 'extra', executionId: w.id });
      const other = fullWorkflow();
      const tx = new Transaction()
        .consume({ deliveryId: delivery!.id, leaseToken: delivery!.leaseToken })
        .insertWorkflow(other)
        .acquireClaim({ executionId: w.id, claimKey: 'mutex:m', stageId: stage.id, stealIfOwnerComplete: false })
        .updateWorkflow(w, { status: S.RUNNING })
        .insertStage(extra)
        .updateStage(stage)
        .push(Messages.completeWorkflow(w.id));
      await expect(backend.store.commit(tx)).rejects.toBeInstanceOf(LeaseLostError);
      expect(stage.version).toBe(0);

      const db = backend.store.database;
      const count = (table: string) => (db.prepare(`SELECT COUNT(*) AS n FROM ${table}`).get() as { n: number }).n;
      expect(count('pipeline_executions')).toBe(1);
      expect(count('stage_executions')).toBe(5);
      expect(count('stage_claims')).toBe(0);
      expect(count('queue_messages')).toBe(1);
      const fresh = await backend.store.retrieveStage(stage.id);
      expect([fresh.status, fresh.version, fresh.tasks.length]).toEqual([S.NOT_STARTED, 0, 0]);
      expect((await backend.store.retrieveWorkflowOnly(w.id)).status).toBe(S.PAUSED);
      // The current holder's lease is untouched and can still commit.
      await backend.store.commit(new Transaction().consume({ deliveryId: stolen!.id, leaseToken: stolen!.leaseToken }));
      expect(await backend.queue.size()).toBe(0);
      await expect(backend.store.commit(new Transaction().consume({ deliveryId: 'not-a-number', leaseToken: 'x' }))).rejects.toBeInstanceOf(LeaseLostError);
    });

    it('a failing stage update in the middle rolls back the writes before it', async () => {
      const w = fullWorkflow();
      await backend.store.store(w);
      const a = await backend.store.retrieveStage(w.stages[0]!.id);
      const stale = await backend.store.retrieveStage(w.stages[1]!.id);
      await backend.store.commit(new Transaction().updateStage(await backend.store.retrieveStage(stale.id)));
      a.context = { changed: true };
      const tx = new Transaction().updateStage(a).updateStage(stale).updateWorkflow(w, { status: S.RUNNING }).push(Messages.startWorkflow(w.id));
      await expect(backend.store.commit(tx)).rejects.toBeInstanceOf(ConcurrencyError);
      expect(a.version).toBe(0);
      expect((await backend.store.retrieveStage(a.id)).context.changed).toBeUndefined();
      expect((await backend.store.retrieveWorkflowOnly(w.id)).status).toBe(S.PAUSED);
      expect(await backend.queue.size()).toBe(0);
    });

    it('claims: insert-if-absent, re-entrant, blocked while the owner runs, stolen from a finished or deleted owner', async () => {
      const w = fullWorkflow();
      await backend.store.store(w);
      const [a, b, c] = w.stages;
      const claim = (stageId: string, steal = true) => new Transaction().acquireClaim({ executionId: w.id, claimKey: 'mutex:m', stageId, stealIfOwnerComplete: steal });
      const owner = () => (backend.store.database.prepare("SELECT stage_id AS s, claimed_at AS t FROM stage_claims WHERE claim_key = 'mutex:m'").get() as { s: string; t: number }).s;
      await backend.store.commit(claim(a!.id));
      await backend.store.commit(claim(a!.id));
      const blocked = backend.store.commit(claim(b!.id).push(Messages.startWorkflow(w.id)));
      await expect(blocked).rejects.toBeInstanceOf(ClaimBlockedError);
      await expect(blocked).rejects.toMatchObject({ claimKey: 'mutex:m', ownerStageId: a!.id });
      expect(await backend.queue.size()).toBe(0);
      const finished = await backend.store.retrieveStage(a!.id);
      finished.status = S.SUCCEEDED;
      await backend.store.commit(new Transaction().updateStage(finished));
      await expect(backend.store.commit(claim(b!.id, false))).rejects.toBeInstanceOf(ClaimBlockedError);
      await backend.store.commit(claim(b!.id, true));
      expect(owner()).toBe(b!.id);
      backend.store.database.prepare('UPDATE stage_claims SET stage_id = ?').run('deleted-stage');
      await backend.store.commit(claim(c!.id, true));
      expect(owner()).toBe(c!.id);
    });

    it('claim waiters: kept in arrival order, one per stage; a release wakes the first live one only', async () => {
      const w = fullWorkflow();
      await backend.store.store(w);
      const db = backend.store.database;
      db.prepare("UPDATE stage_executions SET status = 'RUNNING'").run();
      db.prepare("UPDATE pipeline_executions SET status = 'RUNNING'").run();
      const [a, b, c, d] = w.stages.map((s) => s.id) as [string, string, string, string];
      const key = { executionId: '*', claimKey: 'mutex:m' };
      const wait = (stageId: string, tag: string) => new Transaction().waitForClaim({ ...key, stageId, message: Messages.startWorkflow(`${stageId}:${tag}`) });
      const drain = async () => {
        const got = await backend.queue.poll({ limit: 10, leaseMs: 1000 });
        for (const m of got) await backend.queue.ack(m);
        return got.map((m) => (m.message as { executionId: string }).executionId);
      };
      // Free claim: the message goes out at once and nobody waits.
      await backend.store.commit(wait(b, 'free'));
      expect(await drain()).toEqual([`${b}:free`]);
      await backend.store.commit(new Transaction().acquireClaim({ ...key, stageId: a, stealIfOwnerComplete: true }));
      // The owner itself waiting is pushed at once too.
      await backend.store.commit(wait(a, 'own'));
      expect(await drain()).toEqual([`${a}:own`]);
      await backend.store.commit(wait(b, '1'));
      await backend.store.commit(wait(c, '1'));
      await backend.store.commit(wait(d, '1'));
      await backend.store.commit(wait(c, '2')); // replaces the message, keeps the place
      expect(await drain()).toEqual([]);
      db.prepare("UPDATE stage_executions SET status = 'SUCCEEDED' WHERE id = ?").run(b); // b is dead now
      // A release by a non-owner frees nothing and wakes nobody while the claim is held.
      await backend.store.commit(new Transaction().releaseClaim({ ...key, stageId: '' }));
      expect(await drain()).toEqual([]);
      await backend.store.commit(new Transaction().releaseClaim({ ...key, stageId: a }));
      expect(await drain()).toEqual([`${c}:2`]);
      expect(db.prepare('SELECT COUNT(*) AS n FROM stage_claims').get()).toEqual({ n: 0 });
      // Nobody holds the claim: `stageId: ''` passes the turn on to the next waiter.
      await backend.store.commit(new Transaction().releaseClaim({ ...key, stageId: '' }));
      expect(await drain()).toEqual([`${d}:1`]);
      expect(db.prepare('SELECT COUNT(*) AS n FROM stage_claim_waiters').get()).toEqual({ n: 0 });
    });

    it('a stage inserted and updated in one transaction is stored once, as it is at commit', async () => {
      const w = fullWorkflow();
      await backend.store.store(w);
      const child = new StageExecution({ refId: 'child', executionId: w.id });
      const tx = new Transaction().insertStage(child);
      child.status = S.RUNNING;
      tx.updateStage(child);
      await backend.store.commit(tx);
      const stored = await backend.store.retrieveStage(child.id);
      expect([stored.status, stored.version]).toEqual([S.RUNNING, 0]);
      expect(child.version).toBe(0);
      child.status = S.SUCCEEDED;
      await backend.store.commit(new Transaction().updateStage(child));
      expect((await backend.store.retrieveStage(child.id)).status).toBe(S.SUCCEEDED);
    });

    it('an empty transaction is a no-op', async () => {
      await backend.store.commit(new Transaction());
      expect(await backend.queue.size()).toBe(0);
    });

    it('refuses values JSON cannot carry before touching the database', async () => {
      const w = fullWorkflow();
      await backend.store.store(w);
      const stage = await backend.store.retrieveStage(w.stages[0]!.id);
      stage.context = { big: 10n } as unknown as Record<string, unknown>;
      await expect(backend.store.commit(new Transaction().updateStage(stage))).rejects.toBeInstanceOf(ValidationError);
    });
  });

  describe('corrupt rows', () => {
    it('malformed JSON or an unknown status raise CorruptRowError naming table, row, workflow and column', async () => {
      const w = fullWorkflow();
      await backend.store.store(w);
      const db = backend.store.database;
      const stageId = w.stages[0]!.id;
      db.prepare('UPDATE stage_executions SET context = ? WHERE id = ?').run('{not json', stageId);
      await expect(backend.store.retrieveStage(stageId)).rejects.toBeInstanceOf(CorruptDataError);
      await expect(backend.store.retrieveStage(stageId)).rejects.toThrow(new RegExp(`^Corrupt row: stage_executions row ${stageId} of workflow ${w.id} \\(column context\\): malformed JSON`));
      await expect(backend.store.retrieveStage(stageId)).rejects.toMatchObject({ table: 'stage_executions', rowId: stageId, workflowId: w.id, column: 'context' });
      await expect(backend.store.retrieveStage(stageId)).rejects.toBeInstanceOf(CorruptRowError);
      await expect(backend.store.retrieve(w.id)).rejects.toBeInstanceOf(CorruptDataError);
      db.prepare('UPDATE stage_executions SET context = ? WHERE id = ?').run('[1, 2]', stageId);
      await expect(backend.store.retrieveStageSummaries(w.id)).rejects.toThrow(/Expected a JSON object/);
      db.prepare("UPDATE stage_executions SET context = '{}'").run();

      const taskId = w.stages[0]!.tasks[0]!.id;
      db.prepare("UPDATE task_executions SET status = 'WEIRD' WHERE id = ?").run(taskId);
      await expect(backend.store.retrieveStage(stageId)).rejects.toThrow(new RegExp(`task_executions row ${taskId} of workflow ${w.id} \\(column status\\): Unknown value 'WEIRD'`));
      db.prepare("UPDATE task_executions SET status = 'RUNNING'").run();

      db.prepare("UPDATE pipeline_executions SET status = 'DONE'").run();
      await expect(backend.store.retrieveWorkflowOnly(w.id)).rejects.toThrow(new RegExp(`pipeline_executions row ${w.id} of workflow ${w.id} \\(column status\\)`));
      await expect(backend.store.listWorkflows({})).rejects.toBeInstanceOf(CorruptDataError);
      db.prepare("UPDATE pipeline_executions SET status = 'RUNNING', trigger = '{\"__proto__\": {\"polluted\": 1}, \"type\": \"t\"}'").run();
      const loaded = await backend.store.retrieveWorkflowOnly(w.id);
      expect(loaded.trigger.type).toBe('t');
      expect(({} as Record<string, unknown>).polluted).toBeUndefined();

      db.prepare("UPDATE stage_executions SET requisite_stage_ref_ids = '[1]' WHERE id = ?").run(w.stages[1]!.id);
      await expect(backend.store.retrieveStage(w.stages[1]!.id)).rejects.toThrow(/array of strings/);
    });
  });
});
