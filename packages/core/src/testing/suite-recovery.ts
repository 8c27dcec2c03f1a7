// Engine scenarios of engine.md §14 H: recovery, leases, concurrency, limits.
import { describe, expect, it } from 'vitest';
import { defaultHandlers } from '../handlers/index.js';
import { Messages } from '../messages/messages.js';
import { JoinType } from '../model/stage-execution.js';
import { WorkflowStatus } from '../model/status.js';
import { Workflow } from '../model/workflow.js';
import { WorkflowRecovery } from '../recovery.js';
import type { BackendFactory } from './backend.js';
import { createHarness, type Harness, S, stageOf } from './harness.js';

const S_ = WorkflowStatus;

export function recoveryScenarios(factory: BackendFactory): void {
  const withHarness = (fn: (h: Harness) => Promise<void>) => async () => {
    const h = await createHarness(factory);
    try {
      await fn(h);
    } finally {
      await h.processor.stop();
      await h.close();
    }
  };

  describe('H. Recovery, leases, concurrency, limits', () => {
    it(
      '83. recovery re-queues a running task once',
      withHarness(async (h) => {
        const w = Workflow.create({ application: 'recovery-app', name: 'r', stages: [S('a', ['success'])] });
        w.status = S_.RUNNING;
        w.startTime = h.clock.now();
        w.stages[0]!.status = S_.RUNNING;
        w.stages[0]!.tasks[0]!.status = S_.RUNNING;
        await h.store.store(w);
        const recovery = new WorkflowRecovery(h.store, h.queue, { clock: h.clock });
        const first = await recovery.recoverPendingWorkflows('recovery-app');
        expect(first).toHaveLength(1);
        expect(first[0]!.status).toBe('recovered');
        expect(first[0]!.stagesRequeued).toBeGreaterThanOrEqual(1);
        expect(await h.queue.size()).toBe(1);
        const second = await recovery.recoverPendingWorkflows('recovery-app');
        expect(second[0]!.status).toBe('skipped');
        expect(await h.queue.size()).toBe(1);
        await h.drain();
        expect((await h.store.retrieveWorkflowOnly(w.id)).status).toBe(S_.SUCCEEDED);
      }),
    );

    it(
      '84. recovery starts stored workflows that never started, within the age limit',
      withHarness(async (h) => {
        const fresh = Workflow.create({ application: 'a', name: 'fresh', stages: [S('a', ['success'])] });
        const old = Workflow.create({ application: 'a', name: 'old', stages: [S('a', ['success'])] });
        old.status = S_.RUNNING;
        old.startTime = h.clock.now() - 100 * 3600_000;
        old.stages[0]!.status = S_.RUNNING;
        const done = Workflow.create({ application: 'a', name: 'done', stages: [S('a', ['success'])] });
        done.status = S_.SUCCEEDED;
        for (const w of [fresh, old, done]) await h.store.store(w);
        const results = await new WorkflowRecovery(h.store, h.queue, { clock: h.clock, maxRecoveryAgeMs: 3600_000 }).recoverPendingWorkflows();
        expect(results.map((r) => [r.workflowId, r.status])).toEqual([[fresh.id, 'recovered']]);
        expect(await h.queue.size()).toBe(1);
        await h.drain();
        expect((await h.store.retrieveWorkflowOnly(fresh.id)).status).toBe(S_.SUCCEEDED);
      }),
    );

    it(
      '85. the processor runs recovery on start and on an interval only when asked',
      withHarness(async (h) => {
        const plain = h.newProcessor();
        plain.start();
        await plain.stop();
        expect(plain.recoverySweeps).toBe(0);
        expect(plain.hasRecoverySweeper).toBe(false);
        const onStart = h.newProcessor({ recoverOnStart: true });
        onStart.start();
        await onStart.stop();
        expect(onStart.recoverySweeps).toBe(1);
        const interval = h.newProcessor({ recoveryIntervalMs: 10_000 });
        interval.start();
        expect(interval.hasRecoverySweeper).toBe(true);
        await interval.stop();
        expect(interval.hasRecoverySweeper).toBe(false);
      }),
    );

    it(
      "86. a dead worker's task message comes back after its lease; its late ack is refused",
      withHarness(async (h) => {
        const w = Workflow.create({ application: 'a', name: 'lease', stages: [S('a', ['success'])] });
        await h.orchestrator.start(w);
        await h.processor.processOne(); // StartWorkflow (starts the stage in place)
        const [held] = await h.queue.poll({ limit: 1, leaseMs: 30_000 });
        expect(held!.message.type).toBe('RunTask');
        expect(await h.queue.poll({ limit: 1, leaseMs: 30_000 })).toEqual([]);
        await h.drain();
        expect((await h.store.retrieveWorkflowOnly(w.id)).status).toBe(S_.SUCCEEDED);
        expect(h.executions).toEqual(['a']);
        expect(await h.queue.ack(held!)).toBe(false);
      }),
    );

    it(
      'a late StartStage for an ended join asks for the workflow end (its sender saw the join unfinished)',
      withHarness(async (h) => {
        // The state two racing transactions leave: the join completed (its CompleteWorkflow saw `c`
        // still running) while `c`'s withdrawal, which saw the join running, queued a StartStage
        // for it instead of a CompleteWorkflow. Only that StartStage is left.
        const w = Workflow.create({
          application: 'a',
          name: 'late',
          stages: [S('a', ['success']), S('c', ['success']), S('j', ['success'], ['a', 'c'], {}, { joinType: JoinType.CANCELLING_N_OF_M, joinThreshold: 1 })],
        });
        w.status = S_.RUNNING;
        w.stages[0]!.status = S_.SUCCEEDED;
        w.stages[1]!.status = S_.CANCELED;
        w.stages[1]!.context._withdrawn = { reason: 'cancellingJoin:j' };
        w.stages[2]!.status = S_.SUCCEEDED;
        await h.store.store(w);
        await h.queue.push(Messages.startStage(w.id, w.stages[2]!.id));
        await h.drain();
        expect((await h.store.retrieveWorkflowOnly(w.id)).status).toBe(S_.SUCCEEDED);
        expect(h.executions).toEqual([]);
        expect(await h.queue.size()).toBe(0);
      }),
    );

    it(
      '87. two simultaneous StartStage deliveries plan a join once',
      withHarness(async (h) => {
        const w = Workflow.create({ application: 'a', name: 'join', stages: [S('b', ['success']), S('c', ['success']), S('d', ['success'], ['b', 'c'])] });
        w.status = S_.RUNNING;
        w.stages[0]!.status = S_.SUCCEEDED;
        w.stages[1]!.status = S_.SUCCEEDED;
        await h.store.store(w);
        const handlers = defaultHandlers();
        const message = Messages.startStage(w.id, w.stages[2]!.id);
        await Promise.all([handlers.StartStage!(h.processor.deps, { message }), handlers.StartStage!(h.processor.deps, { message })]);
        expect(await h.queue.size()).toBe(1);
        await h.drain();
        expect(h.executions).toEqual(['d']);
        expect(stageOf(await h.store.retrieve(w.id), 'd').status).toBe(S_.SUCCEEDED);
      }),
    );

    const limited = (keepWaitingPipelines: boolean) =>
      [1, 2, 3].map((i) =>
        Workflow.create({
          application: 'a',
          name: `limited ${i}`,
          pipelineConfigId: 'cfg',
          isLimitConcurrent: true,
          maxConcurrentExecutions: 1,
          keepWaitingPipelines,
          stages: [S('a', ['success'])],
        }),
      );

    it(
      '88. a concurrency limit buffers runs and starts them as slots free up',
      withHarness(async (h) => {
        const runs = limited(true);
        for (const w of runs) await h.orchestrator.start(w);
        for (let i = 0; i < 3; i++) await h.processor.processOne();
        const statuses = async (ws: Workflow[]) => Promise.all(ws.map(async (w) => (await h.store.retrieveWorkflowOnly(w.id)).status));
        expect(await statuses(runs)).toEqual([S_.RUNNING, S_.BUFFERED, S_.BUFFERED]);
        await h.drain();
        expect(await statuses(runs)).toEqual([S_.SUCCEEDED, S_.SUCCEEDED, S_.SUCCEEDED]);
        const purged = limited(false);
        for (const w of purged) await h.orchestrator.start(w);
        for (let i = 0; i < 3; i++) await h.processor.processOne();
        expect(await statuses(purged)).toEqual([S_.RUNNING, S_.BUFFERED, S_.BUFFERED]);
        await h.drain();
        expect(await statuses(purged)).toEqual([S_.SUCCEEDED, S_.SUCCEEDED, S_.CANCELED]);
        expect((await h.store.retrieveWorkflowOnly(purged[2]!.id)).isCanceled).toBe(true);
      }),
    );
  });
}
