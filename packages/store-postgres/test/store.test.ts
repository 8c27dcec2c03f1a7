import {
  ClaimBlockedError,
  ConcurrencyError,
  ConfigurationError,
  LeaseLostError,
  ManualClock,
  Messages,
  StageExecution,
  StageNotFoundError,
  TaskExecution,
  Transaction,
  TransientError,
  ValidationError,
  Workflow,
  WorkflowNotFoundError,
  WorkflowStatus,
} from '@stabilize/core';
import { afterAll, afterEach, beforeAll, expect, it } from 'vitest';
import { PostgresQueue, PostgresWorkflowStore, sharedPoolCount } from '../src/index.js';
import { admin, createSchema, describePg, dropSchema, migratedSchema, sql } from './pg.js';

const S = WorkflowStatus;

describePg('PostgresWorkflowStore', () => {
  let schema = '';
  let url = '';
  const clock = new ManualClock();
  let store: PostgresWorkflowStore;
  let queue: PostgresQueue;

  beforeAll(async () => {
    ({ schema, url } = await migratedSchema('store'));
    store = new PostgresWorkflowStore(url, { clock });
    queue = new PostgresQueue(url, { clock });
  });
  afterAll(async () => {
    await store?.close();
    await queue?.close();
    await dropSchema(schema);
  });
  afterEach(async () => {
    await admin((c) => c.query(`TRUNCATE "${schema}".queue_messages, "${schema}".queue_messages_dlq, "${schema}".stage_claims, "${schema}".stage_claim_waiters`));
  });

  function fullWorkflow(): Workflow {
    const first = new StageExecution({
      refId: 'a',
      type: 'build',
      name: 'Build',
      status: S.RUNNING,
      context: { unicode: 'größe ✓ 😀', list: [1, 2.5, -3e-7], obj: { k: 'v', n: null }, big: 9007199254740991, t: true },
      outputs: { out: [{ x: 1 }] },
      // Ids in reverse order: tasks must come back in list order (position), never id order.
      tasks: [
        new TaskExecution({ id: 'task-z', name: 't1', implementingClass: 'x', status: S.SUCCEEDED, startTime: 1, endTime: 2, stageStart: true, taskExceptionDetails: { e: 'boom' }, version: 3 }),
        new TaskExecution({ id: 'task-m', name: 't2', implementingClass: 'y', status: S.RUNNING, loopStart: true, loopEnd: true }),
        new TaskExecution({ id: 'task-a', name: 't3', implementingClass: 'z', stageEnd: true }),
      ],
      startTime: 1_700_000_000_123,
      endTime: null,
      startTimeExpiry: 1_700_000_999_000,
      scheduledTime: 1_700_000_000_000,
      version: 4,
      joinType: 'N_OF_M',
      joinThreshold: 2,
      splitType: 'XOR',
      splitConditions: { b: 'x > 1' },
      miConfig: { count: 3, syncOnComplete: true },
      deferredChoiceGroup: 'g',
      milestoneRefId: 'b',
      milestoneStatus: S.RUNNING,
      mutexKey: 'm',
      cancelRegion: 'r',
      outputReducers: { x: 'collect' },
      ancestorOutputs: { up: { deep: [1, 2] } },
    });
    const second = new StageExecution({ refId: 'b', requisiteStageRefIds: ['a'] });
    const child = StageExecution.createSynthetic({ parent: second, owner: 'STAGE_AFTER', name: 'cleanup', refId: 'b-after' });
    return new Workflow({
      application: 'app',
      name: 'full',
      status: S.RUNNING,
      context: { wf: { nested: [1, 'two', null, true] } },
      trigger: { type: 'api', user: 'ann', parameters: { p: 1 }, artifacts: [{ a: 1 }], payload: { body: 'x' } },
      startTime: 1_700_000_000_000,
      endTime: 1_700_000_100_000,
      startTimeExpiry: 1_800_000_000_000,
      isCanceled: true,
      canceledBy: 'bob',
      cancellationReason: 'because',
      paused: { pausedBy: 'carol', pauseTime: 10, resumeTime: 20, pausedMs: 10 },
      pipelineConfigId: 'cfg',
      isLimitConcurrent: true,
      maxConcurrentExecutions: 3,
      keepWaitingPipelines: true,
      origin: 'cli',
      configVersion: 'v7',
      createdAt: 1_600_000_000_000,
      stages: [first, second, child],
    });
  }

  it('round-trips every field of workflows, stages and tasks', async () => {
    const original = fullWorkflow();
    await store.store(original);
    const loaded = await store.retrieve(original.id);
    const { stages: loadedStages, ...loadedRow } = loaded;
    const { stages: originalStages, ...originalRow } = original;
    expect(loadedRow).toEqual(originalRow);
    expect(loadedStages).toHaveLength(3);
    for (const [i, stage] of originalStages.entries()) expect(loadedStages[i]).toEqual(stage);
    expect(loadedStages[0]!.tasks.map((t) => t.id)).toEqual(['task-z', 'task-m', 'task-a']);
    const only = await store.retrieveWorkflowOnly(original.id);
    expect(only.stages).toEqual([]);
    expect(only.paused).toEqual(original.paused);
    expect(await store.retrieveStage(original.stages[0]!.id)).toEqual(original.stages[0]);
  });

  it('takes created_at from the injected clock, or from the database clock by default', async () => {
    const w = Workflow.create({ application: 'app', name: 'clocked', stages: [] });
    await store.store(w);
    expect((await store.retrieveWorkflowOnly(w.id)).createdAt).toBe(clock.now());
    const dbClockStore = new PostgresWorkflowStore(url);
    try {
      const w2 = Workflow.create({ application: 'app', name: 'db-clock', stages: [] });
      await dbClockStore.store(w2);
      const [row] = await sql<{ now: number }>('SELECT (extract(epoch from now()) * 1000)::float8 AS now');
      const createdAt = (await dbClockStore.retrieveWorkflowOnly(w2.id)).createdAt!;
      expect(Math.abs(createdAt - row!.now)).toBeLessThan(5_000);
    } finally {
      await dbClockStore.close();
    }
  });

  it('answers neighbour queries in creation order, including stages inserted later', async () => {
    const w = Workflow.create({
      application: 'app',
      name: 'graph',
      stages: [new StageExecution({ refId: 'root' }), new StageExecution({ refId: 'x', requisiteStageRefIds: ['root'] }), new StageExecution({ refId: 'y', requisiteStageRefIds: ['root'] })],
    });
    await store.store(w);
    const late = new StageExecution({ refId: 'late', requisiteStageRefIds: ['root', 'x'], executionId: w.id });
    const child = StageExecution.createSynthetic({ parent: w.stages[1]!, owner: 'STAGE_BEFORE', refId: 'x-setup' });
    await store.commit(new Transaction().insertStage(late).insertStage(child));
    expect((await store.retrieveDownstreamStages(w.id, 'root')).map((s) => s.refId)).toEqual(['x', 'y', 'late']);
    expect((await store.retrieveDownstreamStages(w.id, 'x')).map((s) => s.refId)).toEqual(['late']);
    expect((await store.retrieveStagesByRefIds(w.id, ['y', 'root', 'nope', 'y'])).map((s) => s.refId)).toEqual(['y', 'root']);
    expect(await store.retrieveStagesByRefIds(w.id, [])).toEqual([]);
    expect((await store.retrieveSyntheticStages(w.stages[1]!.id)).map((s) => s.refId)).toEqual(['x-setup']);
    expect(await store.retrieveSyntheticStages('no-such-stage')).toEqual([]);
    expect((await store.retrieve(w.id)).stages.map((s) => s.refId)).toEqual(['root', 'x', 'y', 'late', 'x-setup']);
    const summaries = await store.retrieveStageSummaries(w.id);
    expect(summaries.map((s) => [s.refId, s.parentStageId, s.requisiteStageRefIds])).toEqual([
      ['root', null, []],
      ['x', null, ['root']],
      ['y', null, ['root']],
      ['late', null, ['root', 'x']],
      ['x-setup', w.stages[1]!.id, []],
    ]);
  });

  it('rejects stale versions and unexpected statuses, and bumps versions on success', async () => {
    const w = Workflow.create({ application: 'app', name: 'cas', stages: [new StageExecution({ refId: 'a', tasks: [TaskExecution.create({ name: 't', implementingClass: 'x' })] })] });
    await store.store(w);
    const first = await store.retrieveStage(w.stages[0]!.id);
    const second = await store.retrieveStage(w.stages[0]!.id);
    first.status = S.RUNNING;
    await store.commit(new Transaction().updateStage(first, S.NOT_STARTED));
    expect(first.version).toBe(1);
    expect((await store.retrieveStage(first.id)).version).toBe(1);
    await expect(store.commit(new Transaction().updateStage(second))).rejects.toBeInstanceOf(ConcurrencyError);
    const fresh = await store.retrieveStage(first.id);
    await expect(store.commit(new Transaction().updateStage(fresh, S.NOT_STARTED))).rejects.toThrow(/changed concurrently \(version 1, status RUNNING\)/);
    expect(fresh.version).toBe(1);
    await store.commit(new Transaction().updateStage(fresh, S.RUNNING));
    expect(fresh.version).toBe(2);
    // Workflow status compare-and-swap.
    await expect(store.commit(new Transaction().updateWorkflow(w, { status: S.RUNNING }, S.RUNNING))).rejects.toBeInstanceOf(ConcurrencyError);
    await store.commit(new Transaction().updateWorkflow(w, { status: S.RUNNING, startTime: 5 }, S.NOT_STARTED).updateWorkflow(w, { endTime: 6 }));
    const row = await store.retrieveWorkflowOnly(w.id);
    expect([row.status, row.startTime, row.endTime]).toEqual([S.RUNNING, 5, 6]);
  });

  it('names missing rows with the reference errors', async () => {
    const ghost = new StageExecution({ refId: 'ghost', executionId: 'no-such-workflow' });
    await expect(store.commit(new Transaction().updateStage(ghost))).rejects.toBeInstanceOf(StageNotFoundError);
    await expect(store.commit(new Transaction().insertStage(ghost))).rejects.toBeInstanceOf(WorkflowNotFoundError);
    await expect(store.commit(new Transaction().updateWorkflow({ id: 'no-such-workflow' }, { status: S.RUNNING }))).rejects.toBeInstanceOf(WorkflowNotFoundError);
    await expect(store.retrieve('no-such-workflow')).rejects.toBeInstanceOf(WorkflowNotFoundError);
    await expect(store.retrieveStage('no-such-stage')).rejects.toBeInstanceOf(StageNotFoundError);
    const w = Workflow.create({ application: 'app', name: 'dup', stages: [] });
    await store.store(w);
    await expect(store.store(w)).rejects.toThrow(/already stored/);
    await expect(store.store(w)).rejects.toBeInstanceOf(ConcurrencyError);
  });

  it('rolls everything back when the consumed delivery lost its lease (stale worker)', async () => {
    const w = Workflow.create({ application: 'app', name: 'lease', stages: [new StageExecution({ refId: 'a' })] });
    await store.store(w);
    await queue.push(Messages.startStage(w.id, w.stages[0]!.id));
    const [mine] = await queue.poll({ limit: 1, leaseMs: 1_000 });
    clock.advance(1_001); // the lease expires; another worker takes the message
    const [theirs] = await queue.poll({ limit: 1, leaseMs: 60_000 });
    expect(theirs!.id).toBe(mine!.id);
    const stage = await store.retrieveStage(w.stages[0]!.id);
    stage.status = S.RUNNING;
    const tx = new Transaction()
      .consume({ deliveryId: mine!.id, leaseToken: mine!.leaseToken })
      .updateStage(stage)
      .updateWorkflow(w, { status: S.RUNNING })
      .push(Messages.completeStage(w.id, stage.id));
    await expect(store.commit(tx)).rejects.toBeInstanceOf(LeaseLostError);
    expect(stage.version).toBe(0);
    expect((await store.retrieveStage(stage.id)).status).toBe(S.NOT_STARTED);
    expect((await store.retrieveWorkflowOnly(w.id)).status).toBe(S.NOT_STARTED);
    expect(await queue.size()).toBe(1);
    // The current holder commits fine, and its commit consumes the message.
    await store.commit(new Transaction().consume({ deliveryId: theirs!.id, leaseToken: theirs!.leaseToken }).updateStage(stage));
    expect(await queue.size()).toBe(0);
    // Malformed ids and tokens hold no lease either.
    await expect(store.commit(new Transaction().consume({ deliveryId: 'abc', leaseToken: 'x' }))).rejects.toBeInstanceOf(LeaseLostError);
  });

  it('is all or nothing: a conflict in one part leaves every other part unwritten', async () => {
    const w = Workflow.create({ application: 'app', name: 'atomic', stages: [new StageExecution({ refId: 'a' }), new StageExecution({ refId: 'b' })] });
    await store.store(w);
    const a = await store.retrieveStage(w.stages[0]!.id);
    const stale = await store.retrieveStage(w.stages[1]!.id);
    await store.commit(new Transaction().updateStage(await store.retrieveStage(w.stages[1]!.id)));
    a.status = S.RUNNING;
    const other = Workflow.create({ application: 'app', name: 'other', stages: [new StageExecution({ refId: 'z' })] });
    const tx = new Transaction()
      .insertWorkflow(other)
      .updateStage(a)
      .updateStage(stale)
      .updateWorkflow(w, { status: S.RUNNING })
      .push(Messages.startWorkflow(w.id))
      .acquireClaim({ executionId: w.id, claimKey: 'mutex:m', stageId: a.id, stealIfOwnerComplete: false });
    await expect(store.commit(tx)).rejects.toBeInstanceOf(ConcurrencyError);
    expect(a.version).toBe(0);
    expect((await store.retrieveStage(a.id)).status).toBe(S.NOT_STARTED);
    expect((await store.retrieveWorkflowOnly(w.id)).status).toBe(S.NOT_STARTED);
    await expect(store.retrieve(other.id)).rejects.toBeInstanceOf(WorkflowNotFoundError);
    expect(await queue.size()).toBe(0);
    expect(await sql(`SELECT * FROM "${schema}".stage_claims WHERE execution_id = $1`, [w.id])).toEqual([]);
  });

  it('replaces the task list of an updated stage and refuses a task id of another stage', async () => {
    const w = Workflow.create({
      application: 'app',
      name: 'tasks',
      stages: [
        new StageExecution({ refId: 'a', tasks: [TaskExecution.create({ id: 'ta1', name: 't1', implementingClass: 'x' }), TaskExecution.create({ id: 'ta2', name: 't2', implementingClass: 'x' })] }),
        new StageExecution({ refId: 'b', tasks: [TaskExecution.create({ id: 'tb1', name: 't', implementingClass: 'x' })] }),
      ],
    });
    await store.store(w);
    const a = await store.retrieveStage(w.stages[0]!.id);
    a.tasks = [a.tasks[1]!, TaskExecution.create({ id: 'ta3', name: 't3', implementingClass: 'y' })];
    a.tasks[0]!.status = S.SUCCEEDED;
    await store.commit(new Transaction().updateStage(a));
    const reloaded = await store.retrieveStage(a.id);
    expect(reloaded.tasks.map((t) => [t.id, t.status])).toEqual([
      ['ta2', S.SUCCEEDED],
      ['ta3', S.NOT_STARTED],
    ]);
    reloaded.tasks.push(TaskExecution.create({ id: 'tb1', name: 'stolen', implementingClass: 'x' }));
    await expect(store.commit(new Transaction().updateStage(reloaded))).rejects.toBeInstanceOf(ConcurrencyError);
    expect((await store.retrieveStage(w.stages[1]!.id)).tasks.map((t) => t.name)).toEqual(['t']);
  });

  it('grants, keeps, blocks and steals claims', async () => {
    const w = Workflow.create({ application: 'app', name: 'claims', stages: [new StageExecution({ refId: 'a' }), new StageExecution({ refId: 'b' })] });
    await store.store(w);
    const [a, b] = w.stages as [StageExecution, StageExecution];
    const claim = (stageId: string, steal: boolean) => new Transaction().acquireClaim({ executionId: w.id, claimKey: 'mutex:m', stageId, stealIfOwnerComplete: steal });
    await store.commit(claim(a.id, false));
    await store.commit(claim(a.id, false)); // re-entrant
    const blocked = await store.commit(claim(b.id, true)).catch((e: unknown) => e);
    expect(blocked).toBeInstanceOf(ClaimBlockedError);
    expect((blocked as ClaimBlockedError).ownerStageId).toBe(a.id);
    const current = await store.retrieveStage(a.id);
    current.status = S.SUCCEEDED;
    await store.commit(new Transaction().updateStage(current));
    await expect(store.commit(claim(b.id, false))).rejects.toBeInstanceOf(ClaimBlockedError);
    await store.commit(claim(b.id, true));
    const [row] = await sql<{ stage_id: string }>(`SELECT stage_id FROM "${schema}".stage_claims WHERE execution_id = $1`, [w.id]);
    expect(row!.stage_id).toBe(b.id);
  });

  it('writes only the state of an updated stage; structure and configuration stay as inserted', async () => {
    const w = Workflow.create({ application: 'app', name: 'state-only', stages: [new StageExecution({ refId: 'a', name: 'A', joinType: 'OR', mutexKey: 'm1' }), new StageExecution({ refId: 'b', requisiteStageRefIds: ['a'] })] });
    await store.store(w);
    const a = await store.retrieveStage(w.stages[0]!.id);
    Object.assign(a, { status: S.RUNNING, startTime: 11, endTime: 22, context: { c: 1 }, outputs: { o: 2 }, ancestorOutputs: { up: 3 } });
    Object.assign(a, { refId: 'renamed', name: 'B', joinType: 'AND', mutexKey: 'other', requisiteStageRefIds: ['x'], scheduledTime: 5 });
    await store.commit(new Transaction().updateStage(a));
    const stored = await store.retrieveStage(a.id);
    expect([stored.status, stored.startTime, stored.endTime, stored.context, stored.outputs, stored.ancestorOutputs, stored.version]).toEqual([S.RUNNING, 11, 22, { c: 1 }, { o: 2 }, { up: 3 }, 1]);
    expect([stored.refId, stored.name, stored.joinType, stored.mutexKey, stored.requisiteStageRefIds, stored.scheduledTime]).toEqual(['a', 'A', 'OR', 'm1', [], null]);
    // A stage inserted and updated in one transaction is stored as inserted; its object keeps its version.
    const fresh = new StageExecution({ refId: 'late', executionId: w.id });
    await store.commit(new Transaction().insertStage(fresh).updateStage(fresh));
    expect(fresh.version).toBe(0);
    expect((await store.retrieveStage(fresh.id)).version).toBe(0);
  });

  it('drops a push while an undelivered message with the same coalescing key waits', async () => {
    const key = 'StartStage:join-1';
    const push = () => store.commit(new Transaction().push(Messages.startStage('w', 'join-1'), 0, { claimable: false, coalesceKey: key }).push(Messages.startStage('w', 'join-1'), 0, { coalesceKey: key }));
    await push();
    await push();
    expect(await queue.size()).toBe(1);
    const [d] = await queue.poll({ limit: 5, leaseMs: 60_000 });
    expect(d).toBeDefined();
    await push(); // the waiting one was delivered: a new push is kept
    expect(await queue.size()).toBe(2);
  });

  it('keeps a coalesced push when the waiting message is being claimed concurrently', async () => {
    const key = 'StartStage:join-2';
    await store.commit(new Transaction().push(Messages.startStage('w', 'join-2'), 0, { claimable: false, coalesceKey: key }));
    const [row] = await sql<{ id: number }>(`SELECT id FROM "${schema}".queue_messages WHERE coalesce_key = $1`, [key]);
    // A poll is claiming the waiting row right now (it holds the row lock and clears the key).
    const { default: pg } = await import('pg');
    const poller = new pg.Client({ connectionString: process.env.STABILIZE_TEST_PG_URL });
    await poller.connect();
    try {
      await poller.query('BEGIN');
      await poller.query(`UPDATE "${schema}".queue_messages SET coalesce_key = NULL, attempts = attempts + 1 WHERE id = $1`, [row!.id]);
      const committing = store.commit(new Transaction().push(Messages.startStage('w', 'join-2'), 0, { claimable: false, coalesceKey: key }));
      await new Promise((r) => setTimeout(r, 200));
      await poller.query('COMMIT');
      await committing;
    } finally {
      await poller.end();
    }
    // The claimed message's handler may already have read the state: this push must not be dropped.
    expect(await queue.size()).toBe(2);
  });

  it('hands the committing worker the messages it asked to claim (claimPushed), already leased', async () => {
    const w = Workflow.create({ application: 'app', name: 'claim-pushed', stages: [new StageExecution({ refId: 'a' })] });
    await store.store(w);
    await queue.push(Messages.startWorkflow(w.id));
    const [current] = await queue.poll({ limit: 1, leaseMs: 60_000 });
    const tx = new Transaction()
      .consume({ deliveryId: current!.id, leaseToken: current!.leaseToken })
      .push(Messages.startStage(w.id, 'first'))
      .push(Messages.startStage(w.id, 'delayed'), 500)
      .push(Messages.startStage(w.id, 'not-claimable'), 0, { claimable: false })
      .push(Messages.startStage(w.id, 'second'))
      .push(Messages.startStage(w.id, 'over-the-limit'));
    tx.claimPushed = { leaseMs: 30_000, limit: 2 };
    await store.commit(tx);
    expect(tx.claimed.map((d) => [(d.message as { stageId: string }).stageId, d.attempts, d.maxAttempts, d.deliverAt])).toEqual([
      ['first', 1, 10, clock.now()],
      ['second', 1, 10, clock.now()],
    ]);
    const polled = await queue.poll({ limit: 10, leaseMs: 1_000 });
    expect(polled.map((d) => (d.message as { stageId: string }).stageId)).toEqual(['not-claimable', 'over-the-limit']);
    for (const d of [...tx.claimed, ...polled]) expect(await queue.ack(d)).toBe(true);
    clock.advance(500);
    const [delayed] = await queue.poll({ limit: 10, leaseMs: 1_000 });
    expect((delayed!.message as { stageId: string }).stageId).toBe('delayed');
    await queue.ack(delayed!);
  });

  it('queues claim waiters; each release wakes the next live one, forgetting finished ones', async () => {
    const w = Workflow.create({ application: 'app', name: 'waiters', stages: ['holder', 'b', 'c', 'd', 'e'].map((refId) => new StageExecution({ refId, status: S.RUNNING })) });
    await store.store(w);
    const [holder, b, c, d, e] = w.stages as [StageExecution, StageExecution, StageExecution, StageExecution, StageExecution];
    const key = { executionId: '*', claimKey: 'mutex:printer' };
    const stageIdsPolled = async () => {
      const polled = await queue.poll({ limit: 10, leaseMs: 1_000 });
      for (const x of polled) await queue.ack(x);
      return polled.map((x) => x.message);
    };
    const waiters = async () => (await sql<{ stage_id: string }>(`SELECT stage_id FROM "${schema}".stage_claim_waiters ORDER BY seq`)).map((r) => r.stage_id);
    await store.commit(new Transaction().acquireClaim({ ...key, stageId: holder.id, stealIfOwnerComplete: true }));
    for (const stage of [b, c, e]) await store.commit(new Transaction().waitForClaim({ ...key, stageId: stage.id, message: Messages.startStage(w.id, stage.id) }));
    // A repeated wait keeps its place in line and replaces its message.
    await store.commit(new Transaction().waitForClaim({ ...key, stageId: b.id, message: Messages.startStage(w.id, b.id, 2) }));
    // The holder itself waiting, or a wait on a free key, goes out at once.
    await store.commit(new Transaction().waitForClaim({ ...key, stageId: holder.id, message: Messages.startStage(w.id, holder.id) }));
    await store.commit(new Transaction().waitForClaim({ executionId: '*', claimKey: 'mutex:free', stageId: d.id, message: Messages.startStage(w.id, d.id) }));
    expect(await stageIdsPolled()).toEqual([Messages.startStage(w.id, holder.id), Messages.startStage(w.id, d.id)]);
    expect(await waiters()).toEqual([b.id, c.id, e.id]);
    // A release by a stage that does not hold the claim, while the holder holds it, wakes nobody.
    await store.commit(new Transaction().releaseClaim({ ...key, stageId: '' }));
    expect(await queue.size()).toBe(0);
    // The holder releases: only the first waiter (b) is woken.
    await store.commit(new Transaction().releaseClaim({ ...key, stageId: holder.id }));
    expect(await stageIdsPolled()).toEqual([Messages.startStage(w.id, b.id, 2)]);
    expect(await waiters()).toEqual([c.id, e.id]);
    expect(await sql(`SELECT * FROM "${schema}".stage_claims WHERE claim_key = 'mutex:printer'`)).toEqual([]);
    // c finished meanwhile: it is forgotten and the turn goes to e, by a release of nobody ('').
    const cDone = await store.retrieveStage(c.id);
    cDone.status = S.SUCCEEDED;
    await store.commit(new Transaction().updateStage(cDone).releaseClaim({ ...key, stageId: '' }));
    expect(await stageIdsPolled()).toEqual([Messages.startStage(w.id, e.id)]);
    expect(await waiters()).toEqual([]);
    // A waiter behind a holder that is already complete does not wait either.
    const holderDone = await store.retrieveStage(holder.id);
    holderDone.status = S.SUCCEEDED;
    await store.commit(new Transaction().updateStage(holderDone).acquireClaim({ ...key, stageId: holder.id, stealIfOwnerComplete: true }));
    await store.commit(new Transaction().waitForClaim({ ...key, stageId: b.id, message: Messages.startStage(w.id, b.id) }));
    expect(await stageIdsPolled()).toEqual([Messages.startStage(w.id, b.id)]);
  });

  it('lists and counts workflows with every filter, paginating by id in code-point order', async () => {
    const ids = ['Q-b', 'Q-A', 'Q-a', 'Q_c'];
    for (const [i, id] of ids.entries()) {
      await store.store(new Workflow({ id, application: 'listing', name: id, pipelineConfigId: 'cfg-list', status: i % 2 ? S.RUNNING : S.SUCCEEDED, startTime: i === 0 ? null : i * 100 }));
    }
    const all = await store.listWorkflows({ application: 'listing' });
    expect(all.map((w) => w.id)).toEqual([...ids].sort());
    expect(all.every((w) => w.stages.length === 0)).toBe(true);
    expect((await store.listWorkflows({ application: 'listing', afterId: 'Q-a', limit: 1 })).map((w) => w.id)).toEqual(['Q-b']);
    expect(await store.countWorkflows({ pipelineConfigId: 'cfg-list', statuses: [S.RUNNING] })).toBe(2);
    expect(await store.countWorkflows({ pipelineConfigId: 'cfg-list', statuses: [] })).toBe(0);
    expect(await store.countWorkflows({ application: 'listing', startedAfter: 200 })).toBe(3); // 200, 300 and the never-started one
    expect(await store.countWorkflows({ application: 'nothing-here' })).toBe(0);
  });

  it('keeps prototype-polluting keys out and rejects strings PostgreSQL cannot store', async () => {
    const w = Workflow.create({ application: 'app', name: 'json', stages: [new StageExecution({ refId: 'a' })] });
    await store.store(w);
    await admin((c) => c.query(`UPDATE "${schema}".stage_executions SET context = '{"__proto__": {"polluted": true}, "ok": 1}' WHERE id = $1`, [w.stages[0]!.id]));
    const stage = await store.retrieveStage(w.stages[0]!.id);
    expect(stage.context).toEqual({ ok: 1 });
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    stage.context.nul = 'a\u0000b';
    await expect(store.commit(new Transaction().updateStage(stage))).rejects.toBeInstanceOf(ValidationError);
  });

  it('shares one pool per URL and releases it when the last user closes', async () => {
    const before = sharedPoolCount();
    const u = `${url}&application_name=pool_sharing`;
    const s1 = new PostgresWorkflowStore(u);
    const q1 = new PostgresQueue(u);
    expect(sharedPoolCount()).toBe(before + 1);
    expect(s1.backend.pool).toBe(q1.backend.pool);
    await s1.close();
    await s1.close(); // idempotent
    expect(sharedPoolCount()).toBe(before + 1);
    await q1.close();
    expect(sharedPoolCount()).toBe(before);
    await expect(s1.retrieve('x')).rejects.toThrow(/closed/);
  });

  it('prepares statements with generic plans (set through the connection options)', async () => {
    const [row] = (await store.backend.raw<{ plan_cache_mode: string }>('SHOW plan_cache_mode', [], 'test')).rows;
    expect(row!.plan_cache_mode).toBe('force_generic_plan');
  });

  it('surfaces a connection killed mid-query as a TransientError, then recovers', async () => {
    const u = `${url}&application_name=dropped_conns`;
    const s = new PostgresWorkflowStore(u);
    try {
      const w = Workflow.create({ application: 'app', name: 'drop', stages: [] });
      await s.store(w);
      const running = s.backend.raw('SELECT pg_sleep(10)', [], 'test').catch((e: unknown) => e);
      await new Promise((r) => setTimeout(r, 200));
      await sql(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'dropped_conns' AND query LIKE 'SELECT pg_sleep%'`);
      const error = await running;
      expect(error).toBeInstanceOf(TransientError);
      expect((error as Error).cause).toBeDefined();
      // The pool drops the dead client; the next call opens a new connection.
      expect((await s.retrieveWorkflowOnly(w.id)).id).toBe(w.id);
    } finally {
      await s.close();
    }
  });
});

describePg('PostgresWorkflowStore without the schema', () => {
  it('tells the user to run `stabilize mg-up` when the tables are missing', async () => {
    const schema = await createSchema('empty');
    const store = new PostgresWorkflowStore(`${process.env.STABILIZE_TEST_PG_URL}?schema=${schema}`);
    try {
      const error = await store.retrieve('x').catch((e: unknown) => e);
      expect(error).toBeInstanceOf(ConfigurationError);
      expect((error as Error).message).toMatch(/stabilize mg-up/);
      expect((error as Error).message).toMatch(/pipeline_executions/);
    } finally {
      await store.close();
      await dropSchema(schema);
    }
  });

  it('refuses to run on a schema with pending migrations', async () => {
    const { schema, url } = await migratedSchema('pending');
    await sql(`DELETE FROM "${schema}".stabilize_migrations`);
    const queue = new PostgresQueue(url);
    try {
      await expect(queue.size()).rejects.toThrow(/pending migrations: .*initial_schema.*stabilize mg-up/);
    } finally {
      await queue.close();
      await dropSchema(schema);
    }
  });

  it('surfaces an unreachable server as a TransientError with the cause', async () => {
    const store = new PostgresWorkflowStore('postgres://postgres@127.0.0.1:1/test?schema=public');
    try {
      const error = await store.retrieve('x').catch((e: unknown) => e);
      expect(error).toBeInstanceOf(TransientError);
      expect((error as Error).cause).toBeDefined();
      expect((error as Error).message).toMatch(/ECONNREFUSED|connect/);
    } finally {
      await store.close();
    }
  });
});
