// Engine scenarios of engine.md §14 E: synthetic stages, builders, redelivery guards.
import { describe, expect, it } from 'vitest';
import { type StageDefinitionBuilder, syntheticStage } from '../builders/stage-definition-builder.js';
import { defaultHandlers } from '../handlers/index.js';
import { type Message, Messages } from '../messages/messages.js';
import { StageExecution } from '../model/stage-execution.js';
import { WorkflowStatus } from '../model/status.js';
import { TaskExecution } from '../model/task-execution.js';
import { Workflow } from '../model/workflow.js';
import { TaskResult } from '../task/task-result.js';
import type { BackendFactory } from './backend.js';
import { abortableSleep } from './suite-control.js';
import { createHarness, type Harness, S, stageOf } from './harness.js';

const S_ = WorkflowStatus;
const task = (impl: string) => TaskExecution.create({ name: impl, implementingClass: impl });

/** Takes every message currently in the queue (due or not) and returns them. */
async function drainMessages(h: Harness): Promise<Message[]> {
  const messages: Message[] = [];
  for (;;) {
    const next = await h.queue.nextDeliveryTime();
    if (next === null) return messages;
    if (next > h.clock.now()) h.clock.set(next);
    for (const d of await h.queue.poll({ limit: 100, leaseMs: 60_000 })) {
      messages.push(d.message);
      await h.queue.ack(d);
    }
  }
}

export function syntheticScenarios(factory: BackendFactory): void {
  const withHarness = (fn: (h: Harness) => Promise<void>) => async () => {
    const h = await createHarness(factory);
    try {
      await fn(h);
    } finally {
      await h.close();
    }
  };
  const record = (h: Harness, label: string, delayMs = 0) =>
    h.registry.register(label, async () => {
      if (delayMs) await abortableSleep(delayMs);
      h.executions.push(label);
      return TaskResult.success({ outputs: { [`out_${label}`]: true } });
    });

  const withChildren = (children: Array<{ owner: 'STAGE_BEFORE' | 'STAGE_AFTER'; impl: string; after?: string[] }>, parentTasks = ['MAIN']) => {
    const parent = new StageExecution({ refId: 'P', type: 'plain', name: 'Parent', tasks: parentTasks.map(task) });
    const byImpl = new Map<string, StageExecution>();
    const stages = [parent];
    for (const c of children) {
      const child = StageExecution.createSynthetic({ parent, owner: c.owner, name: c.impl, tasks: [task(c.impl)] });
      child.requisiteStageRefIds = (c.after ?? []).map((a) => byImpl.get(a)!.refId);
      byImpl.set(c.impl, child);
      stages.push(child);
    }
    return Workflow.create({ application: 'conformance', name: 'synthetic', stages });
  };

  describe('E. Synthetic stages and builders', () => {
    it(
      '50. a before-stage runs before the parent task',
      withHarness(async (h) => {
        record(h, 'MAIN');
        record(h, 'before', 100);
        const result = await h.run(withChildren([{ owner: 'STAGE_BEFORE', impl: 'before' }]));
        expect(h.executions).toEqual(['before', 'MAIN']);
        expect(result.status).toBe(S_.SUCCEEDED);
      }),
    );

    it(
      '51. an after-stage runs after the parent task',
      withHarness(async (h) => {
        record(h, 'MAIN');
        record(h, 'after');
        const result = await h.run(withChildren([{ owner: 'STAGE_AFTER', impl: 'after' }]));
        expect(h.executions).toEqual(['MAIN', 'after']);
        expect(result.status).toBe(S_.SUCCEEDED);
        expect(stageOf(result, 'P').status).toBe(S_.SUCCEEDED);
      }),
    );

    it(
      '52. chained before-stages run in order',
      withHarness(async (h) => {
        for (const l of ['MAIN', 'before_1', 'before_2']) record(h, l);
        const result = await h.run(
          withChildren([
            { owner: 'STAGE_BEFORE', impl: 'before_1' },
            { owner: 'STAGE_BEFORE', impl: 'before_2', after: ['before_1'] },
          ]),
        );
        expect(h.executions).toEqual(['before_1', 'before_2', 'MAIN']);
        expect(result.status).toBe(S_.SUCCEEDED);
      }),
    );

    it(
      '53. before, main, after',
      withHarness(async (h) => {
        for (const l of ['MAIN', 'before', 'after']) record(h, l);
        const result = await h.run(
          withChildren([
            { owner: 'STAGE_BEFORE', impl: 'before' },
            { owner: 'STAGE_AFTER', impl: 'after' },
          ]),
        );
        expect(h.executions).toEqual(['before', 'MAIN', 'after']);
        expect(result.status).toBe(S_.SUCCEEDED);
      }),
    );

    it(
      '54. a failing before-stage prevents the main task',
      withHarness(async (h) => {
        record(h, 'MAIN');
        const result = await h.run(withChildren([{ owner: 'STAGE_BEFORE', impl: 'fail' }]));
        expect(result.status).toBe(S_.TERMINAL);
        expect(stageOf(result, 'P').tasks[0]!.status).toBe(S_.NOT_STARTED);
        expect(h.executions).not.toContain('MAIN');
      }),
    );

    const fullBuilder = (mainImpl: string): StageDefinitionBuilder => ({
      type: 'full',
      buildTasks: () => [task(mainImpl)],
      beforeStages: (_stage, graph) => {
        graph.append(syntheticStage({ name: 'before1', tasks: [task('before1')] }));
        graph.append(syntheticStage({ name: 'before2', tasks: [task('before2echo')] }));
      },
      afterStages: (_stage, graph) => {
        graph.add(syntheticStage({ name: 'after1', tasks: [task('after1')] }));
      },
      onFailureStages: (_stage, graph) => {
        graph.add(syntheticStage({ name: 'rollback', tasks: [task('rollback')] }));
      },
    });
    const builderWorkflow = (context: Record<string, unknown> = {}) =>
      Workflow.create({
        application: 'conformance',
        name: 'builder',
        stages: [new StageExecution({ refId: 'P', type: 'full', name: 'P', context }), S('d', ['echo'], ['P'])],
      });
    const registerBuilderTasks = (h: Harness) => {
      for (const l of ['before1', 'after1', 'rollback']) record(h, l);
      h.registry.register('before2echo', (stage) => {
        h.executions.push('before2');
        h.echoed.set('before2', structuredClone(stage.context));
        return TaskResult.success();
      });
      h.registry.register('mainOk', () => {
        h.executions.push('P');
        return TaskResult.success({ outputs: { fromP: 1 } });
      });
      h.registry.register('mainFail', () => {
        h.executions.push('P');
        return TaskResult.terminal('main failed');
      });
    };

    it(
      '55. a builder adds tasks, before and after stages',
      withHarness(async (h) => {
        registerBuilderTasks(h);
        h.builders.register(fullBuilder('mainOk'));
        const result = await h.run(builderWorkflow());
        expect(h.executions).toEqual(['before1', 'before2', 'P', 'after1', 'd']);
        expect(result.status).toBe(S_.SUCCEEDED);
        expect(result.stages.every((s) => s.status === S_.SUCCEEDED)).toBe(true);
        expect(h.echoed.get('d')).toMatchObject({ fromP: 1 });
        expect(h.echoed.get('d')).not.toHaveProperty('out_before1');
        expect(h.echoed.get('before2')).toMatchObject({ out_before1: true });
      }),
    );

    it(
      '56. a builder stage that fails runs its rollback, not its after-stages',
      withHarness(async (h) => {
        registerBuilderTasks(h);
        h.builders.register(fullBuilder('mainFail'));
        const result = await h.run(builderWorkflow());
        expect(h.executions).toEqual(['before1', 'before2', 'P', 'rollback']);
        const p = stageOf(result, 'P');
        expect(p.status).toBe(S_.TERMINAL);
        expect(p.context._on_failure_planned).toBe(true);
        expect(result.stages.find((s) => s.name === 'rollback')!.status).toBe(S_.SUCCEEDED);
        expect(result.stages.find((s) => s.name === 'after1')).toBeUndefined();
        expect(stageOf(result, 'd').status).toBe(S_.NOT_STARTED);
        expect(result.status).toBe(S_.TERMINAL);
      }),
    );

    it(
      '57. with continuePipelineOnFailure the after-stages run instead',
      withHarness(async (h) => {
        registerBuilderTasks(h);
        h.builders.register(fullBuilder('mainFail'));
        const result = await h.run(builderWorkflow({ continuePipelineOnFailure: true }));
        expect(stageOf(result, 'P').status).toBe(S_.FAILED_CONTINUE);
        expect(h.executions).toEqual(['before1', 'before2', 'P', 'after1', 'd']);
        expect(result.status).toBe(S_.SUCCEEDED);
      }),
    );

    it(
      '58. with failPipeline=false the rollback runs and the workflow succeeds',
      withHarness(async (h) => {
        registerBuilderTasks(h);
        h.builders.register(fullBuilder('mainFail'));
        const result = await h.run(builderWorkflow({ failPipeline: false }));
        expect(stageOf(result, 'P').status).toBe(S_.STOPPED);
        expect(h.executions).toContain('rollback');
        expect(stageOf(result, 'd').status).toBe(S_.NOT_STARTED);
        expect(result.status).toBe(S_.SUCCEEDED);
      }),
    );

    it(
      '59. a failing after-stage fails its parent',
      withHarness(async (h) => {
        record(h, 'MAIN');
        const w = withChildren([{ owner: 'STAGE_AFTER', impl: 'fail' }]);
        w.addStage(S('d', ['success'], ['P']));
        const result = await h.run(w);
        expect(stageOf(result, 'P').status).toBe(S_.TERMINAL);
        expect(stageOf(result, 'd').status).toBe(S_.NOT_STARTED);
        expect(result.status).toBe(S_.TERMINAL);
      }),
    );

    const handlers = defaultHandlers();

    it(
      '60. a redelivered CompleteStage while after-stages run changes nothing',
      withHarness(async (h) => {
        const w = withChildren([{ owner: 'STAGE_AFTER', impl: 'after' }], ['success']);
        w.status = S_.RUNNING;
        const parent = w.stages[0]!;
        parent.status = S_.RUNNING;
        parent.tasks[0]!.status = S_.SUCCEEDED;
        await h.store.store(w);
        const message = Messages.completeStage(w.id, parent.id);
        await handlers.CompleteStage!(h.processor.deps, { message });
        expect(await drainMessages(h)).toEqual([Messages.startStage(w.id, w.stages[1]!.id)]);
        const after = await h.store.retrieveStage(w.stages[1]!.id);
        after.status = S_.RUNNING;
        await h.store.commit(new (await import('../store/transaction.js')).Transaction().updateStage(after));
        await handlers.CompleteStage!(h.processor.deps, { message });
        expect((await h.store.retrieveStage(parent.id)).status).toBe(S_.RUNNING);
        expect(await drainMessages(h)).toEqual([]);
      }),
    );

    it(
      '61. a stale CompleteStage with a running task is ignored',
      withHarness(async (h) => {
        const w = Workflow.create({ application: 'conformance', name: 'stale', stages: [S('a', ['success'])] });
        w.status = S_.RUNNING;
        w.stages[0]!.status = S_.RUNNING;
        w.stages[0]!.tasks[0]!.status = S_.RUNNING;
        await h.store.store(w);
        await handlers.CompleteStage!(h.processor.deps, { message: Messages.completeStage(w.id, w.stages[0]!.id) });
        expect((await h.store.retrieveStage(w.stages[0]!.id)).status).toBe(S_.RUNNING);
        expect(await drainMessages(h)).toEqual([]);
      }),
    );

    it(
      '62. a redelivered CompleteStage plans the rollback only once',
      withHarness(async (h) => {
        h.builders.register({ type: 'rb', onFailureStages: (_s, graph) => void graph.add(syntheticStage({ name: 'rollback', tasks: [task('success')] })) });
        const w = Workflow.create({ application: 'conformance', name: 'rb', stages: [S('a', ['fail'], [], {}, { type: 'rb' })] });
        w.status = S_.RUNNING;
        w.stages[0]!.status = S_.RUNNING;
        w.stages[0]!.tasks[0]!.status = S_.TERMINAL;
        await h.store.store(w);
        const message = Messages.completeStage(w.id, w.stages[0]!.id);
        await handlers.CompleteStage!(h.processor.deps, { message });
        let children = await h.store.retrieveSyntheticStages(w.stages[0]!.id);
        expect(children).toHaveLength(1);
        expect(await drainMessages(h)).toEqual([Messages.startStage(w.id, children[0]!.id)]);
        const rollback = children[0]!;
        rollback.status = S_.RUNNING;
        await h.store.commit(new (await import('../store/transaction.js')).Transaction().updateStage(rollback));
        await handlers.CompleteStage!(h.processor.deps, { message });
        children = await h.store.retrieveSyntheticStages(w.stages[0]!.id);
        expect(children).toHaveLength(1);
        expect(await drainMessages(h)).toEqual([]);
        expect((await h.store.retrieveStage(w.stages[0]!.id)).status).toBe(S_.RUNNING);
      }),
    );

    it(
      '63. a zombie stage (RUNNING, nothing planned) is planned again',
      withHarness(async (h) => {
        h.builders.register({ type: 'zombie', buildTasks: () => [task('success')] });
        const w = Workflow.create({ application: 'conformance', name: 'zombie', stages: [new StageExecution({ refId: 'z', type: 'zombie' })] });
        w.status = S_.RUNNING;
        w.stages[0]!.status = S_.RUNNING;
        w.stages[0]!.startTime = h.clock.now();
        await h.store.store(w);
        await handlers.StartStage!(h.processor.deps, { message: Messages.startStage(w.id, w.stages[0]!.id) });
        const stage = await h.store.retrieveStage(w.stages[0]!.id);
        expect(stage.status).toBe(S_.RUNNING);
        expect(stage.tasks.length).toBeGreaterThanOrEqual(1);
        const pushed = await drainMessages(h);
        expect(pushed).toEqual([Messages.runTask(w.id, stage.id, stage.tasks[0]!.id, 'success')]);
      }),
    );
  });
}
