// One scenario per Workflow Control-Flow Pattern (Russell, ter Hofstede, van der Aalst, Mulyar 2006)
// that patterns.md §9 does not already prove; docs/patterns.md maps every pattern to its test.
import { describe, expect, it } from 'vitest';
import { LoopBuilder, registerLoopTasks } from '../builders/loop-builder.js';
import { MultiInstanceBuilder } from '../builders/multi-instance-builder.js';
import { Messages } from '../messages/messages.js';
import { JoinType, SplitType, type StageExecution } from '../model/stage-execution.js';
import { isComplete, WorkflowStatus } from '../model/status.js';
import { Workflow } from '../model/workflow.js';
import { Transaction } from '../store/transaction.js';
import { TaskResult } from '../task/task-result.js';
import type { BackendFactory } from './backend.js';
import { type Harness, S, stageOf } from './harness.js';
import { anyOverlap, count, delayedPushes, harnessFor, type Interval, registerPatternTasks, runInBackground, stepUntil, until, wf } from './suite-patterns-support.js';

const St = WorkflowStatus;

/** [first start, last end] of the intervals of one ref. */
function span(intervals: readonly Interval[], ref: string): Interval {
  const own = intervals.filter((i) => i.ref === ref);
  return { ref, start: Math.min(...own.map((i) => i.start)), end: Math.max(...own.map((i) => i.end)), aborted: own.some((i) => i.aborted) };
}

/** `mm` fires twice: a multi-merge of two quick branches (a source of two threads). */
const twoThreads = (ref: string, extra: Partial<ConstructorParameters<typeof StageExecution>[0]> = {}) => [
  S(`${ref}_x`, ['emit']),
  S(`${ref}_y`, ['emit']),
  S(ref, ['emit'], [`${ref}_x`, `${ref}_y`], {}, { joinType: JoinType.MULTI_MERGE, ...extra }),
];

export function patternWcpScenarios(factory: BackendFactory): void {
  const withHarness = harnessFor(factory);

  describe('WCP basic control flow', () => {
    it(
      'WCP-1/2/3 sequence, parallel split and synchronization',
      withHarness(
        async (h) => {
          const log = registerPatternTasks(h);
          const r = await h.run(wf([S('a', ['track']), S('b', ['track'], ['a']), S('c', ['track'], ['b'], { delayMs: 100 }), S('d', ['track'], ['b'], { delayMs: 10 }), S('j', ['track'], ['c', 'd'])]));
          expect(r.status).toBe(St.SUCCEEDED);
          expect(h.executions.slice(0, 2)).toEqual(['a', 'b']);
          expect(count(h, 'j')).toBe(1);
          expect(span(log.intervals, 'j').start).toBeGreaterThanOrEqual(span(log.intervals, 'c').end);
        },
        { maxWorkers: 4 },
      ),
    );

    it(
      'WCP-4/5 exclusive choice (XOR: first true condition, else the default branch) and simple merge',
      withHarness(async (h) => {
        const run = async (amount: number) => {
          const r = await h.run(
            wf([
              S('order', ['emit'], [], { emit: { amount } }, { splitType: SplitType.XOR, splitConditions: { small: 'amount < 100', medium: 'amount < 1000', also: 'amount < 10000' } }),
              S('small', ['emit'], ['order']),
              S('medium', ['emit'], ['order']),
              S('also', ['emit'], ['order']),
              S('large', ['emit'], ['order']),
              S('merge', ['counter'], ['small', 'medium', 'also', 'large']),
            ]),
          );
          expect(stageOf(r, 'merge').status).toBe(St.SUCCEEDED);
          expect(r.status).toBe(St.SUCCEEDED);
          return ['small', 'medium', 'also', 'large'].filter((ref) => stageOf(r, ref).status === St.SUCCEEDED);
        };
        expect(await run(500)).toEqual(['medium']); // only one, although 'also' holds too
        expect(await run(50_000)).toEqual(['large']); // no condition holds: the branch without one
        expect(count(h, 'merge')).toBe(2);
      }),
    );

    it(
      'WCP-10 arbitrary cycles: a backward jump re-runs a section until it is done',
      withHarness(async (h) => {
        let tries = 0;
        h.registry.register('retryUntilThird', () => (++tries < 3 ? TaskResult.jumpTo('a') : TaskResult.success({ outputs: { tries } })));
        const r = await h.run(wf([S('a', ['counter']), S('b', ['retryUntilThird'], ['a']), S('c', ['emit'], ['b'])]));
        expect([r.status, count(h, 'a'), tries]).toEqual([St.SUCCEEDED, 3, 3]);
      }),
    );

    it(
      'WCP-11 implicit termination: the workflow ends when its last branch does, without timers',
      withHarness(
        async (h) => {
          registerPatternTasks(h);
          const delayed = delayedPushes(h);
          const r = await h.run(wf([S('a', ['track']), S('b', ['track'], [], { delayMs: 150 }), S('c', ['track'], ['a'])]));
          expect(r.status).toBe(St.SUCCEEDED);
          expect(r.stages.every((s) => s.status === St.SUCCEEDED)).toBe(true);
          expect(delayed).toEqual([]);
          expect(await h.queue.size()).toBe(0);
        },
        { maxWorkers: 4 },
      ),
    );
  });

  describe('WCP multiple instances', () => {
    it(
      'WCP-12 instances without synchronization: the flow goes on, the workflow waits for them',
      withHarness(
        async (h) => {
          const log = registerPatternTasks(h);
          let finishedWhenAfterRan = -1;
          h.registry.register('look', () => {
            finishedWhenAfterRan = log.finished.length;
            return TaskResult.success();
          });
          const rev = S('rev', ['sleepy'], [], { sleepMs: 200 });
          const r = await h.run(wf([rev, ...MultiInstanceBuilder.fixed(rev, 2, { syncOnComplete: false }), S('after', ['look'], ['rev'])]));
          expect(finishedWhenAfterRan).toBe(0);
          expect([stageOf(r, 'rev_instance_0').status, stageOf(r, 'rev_instance_1').status, r.status]).toEqual([St.SUCCEEDED, St.SUCCEEDED, St.SUCCEEDED]);
          expect(log.finished.sort()).toEqual(['rev_instance_0', 'rev_instance_1']);
        },
        { maxWorkers: 4 },
      ),
    );

    it(
      'WCP-14 run-time a priori knowledge: count or collection read when the stage is reached',
      withHarness(async (h) => {
        h.registry.register('seeItem', (stage) => {
          h.executions.push(stage.refId);
          return TaskResult.success({ outputs: { seen: stage.context.item ?? stage.context._mi_instance_index } });
        });
        const byCount = MultiInstanceBuilder.fromContext(S('rev', ['seeItem'], ['plan']), 'n');
        let r = await h.run(wf([S('plan', ['emit'], [], { emit: { n: 3 } }), byCount]));
        expect(r.stages.filter((s) => s.parentStageId === byCount.id).map((s) => s.status)).toEqual([St.SUCCEEDED, St.SUCCEEDED, St.SUCCEEDED]);
        expect(r.status).toBe(St.SUCCEEDED);
        const byItems = MultiInstanceBuilder.fromCollection(S('each', ['seeItem'], ['plan'], {}, { outputReducers: { seen: 'collect' } }), 'items');
        r = await h.run(wf([S('plan', ['emit'], [], { emit: { items: ['x', 'y'] } }), byItems, S('after', ['echo'], ['each'])]));
        expect(stageOf(r, 'each').outputs.seen).toEqual(['x', 'y']);
        expect(h.echoed.get('after')).toMatchObject({ seen: ['x', 'y'] });
      }),
    );

    it(
      'WCP-26 cancel a multiple-instance activity (canceled: the case ends CANCELED; withdrawn: it goes on)',
      withHarness(
        async (h) => {
          registerPatternTasks(h);
          for (const withdraw of [false, true]) {
            const rev = S('rev', ['sleepy'], [], { sleepMs: 10_000 });
            const w = wf([rev, ...MultiInstanceBuilder.fixed(rev, 3), S('after', ['emit'], ['rev'])]);
            await h.orchestrator.start(w);
            h.processor.start();
            await until(async () => (await h.store.retrieve(w.id)).stages.filter((s) => s.parentStageId === rev.id && s.status === St.RUNNING).length === 3);
            await h.orchestrator.send(Messages.cancelStage(w.id, rev.id, { withdraw }));
            await until(async () => isComplete((await h.store.retrieveWorkflowOnly(w.id)).status));
            await h.processor.stop();
            const r = await h.store.retrieve(w.id);
            expect(stageOf(r, 'rev').status).toBe(St.CANCELED);
            for (const i of r.stages.filter((s) => s.parentStageId === rev.id)) {
              expect(i.status).toBe(St.CANCELED);
              expect(i.context._withdrawn).toEqual({ reason: 'multiInstanceCanceled' });
            }
            expect([stageOf(r, 'after').status, r.status]).toEqual(withdraw ? [St.SKIPPED, St.SUCCEEDED] : [St.NOT_STARTED, St.CANCELED]);
          }
        },
        { maxWorkers: 8 },
      ),
    );

    it(
      'WCP-27 complete a multiple-instance activity: the rest is withdrawn, the flow goes on',
      withHarness(
        async (h) => {
          registerPatternTasks(h);
          const rev = S('rev', ['sleepy'], [], {}, { outputReducers: { done: 'collect' } });
          const instances = MultiInstanceBuilder.fixed(rev, 3, { instanceContexts: [{ sleepMs: 0, emit: { done: 0 } }, { sleepMs: 10_000 }, { sleepMs: 10_000 }] });
          const w = wf([rev, ...instances, S('after', ['emit'], ['rev'])]);
          await h.orchestrator.start(w);
          h.processor.start();
          await until(async () => (await h.store.retrieveStage(instances[0]!.id)).status === St.SUCCEEDED);
          await h.orchestrator.send(Messages.completeMultiInstance(w.id, rev.id));
          await until(async () => isComplete((await h.store.retrieveWorkflowOnly(w.id)).status));
          await h.processor.stop();
          const r = await h.store.retrieve(w.id);
          expect([stageOf(r, 'rev').status, stageOf(r, 'after').status, r.status]).toEqual([St.SUCCEEDED, St.SUCCEEDED, St.SUCCEEDED]);
          expect(stageOf(r, 'rev').outputs.done).toEqual([0]);
          expect([stageOf(r, 'rev_instance_1').status, stageOf(r, 'rev_instance_2').status]).toEqual([St.CANCELED, St.CANCELED]);
        },
        { maxWorkers: 8 },
      ),
    );

    it(
      'WCP-34 static partial join for instances: the stage completes at N, the rest still finish',
      withHarness(
        async (h) => {
          const log = registerPatternTasks(h);
          let finishedWhenAfterRan = -1;
          h.registry.register('look', () => {
            finishedWhenAfterRan = log.finished.length;
            return TaskResult.success();
          });
          const rev = S('rev', ['sleepy']);
          const instances = MultiInstanceBuilder.fixed(rev, 3, { joinThreshold: 2, instanceContexts: [{ sleepMs: 0 }, { sleepMs: 0 }, { sleepMs: 300 }] });
          const r = await h.run(wf([rev, ...instances, S('after', ['look'], ['rev'])]));
          expect(finishedWhenAfterRan).toBe(2);
          expect(r.stages.filter((s) => s.parentStageId === rev.id).map((s) => s.status)).toEqual([St.SUCCEEDED, St.SUCCEEDED, St.SUCCEEDED]);
          expect(r.status).toBe(St.SUCCEEDED);
        },
        { maxWorkers: 8 },
      ),
    );

    it(
      'WCP-35 cancelling partial join for instances: the rest are withdrawn at N',
      withHarness(
        async (h) => {
          registerPatternTasks(h);
          const rev = S('rev', ['sleepy']);
          const instances = MultiInstanceBuilder.fixed(rev, 3, { joinThreshold: 2, cancelRemaining: true, instanceContexts: [{ sleepMs: 0 }, { sleepMs: 0 }, { sleepMs: 10_000 }] });
          const started = performance.now();
          const w = wf([rev, ...instances, S('after', ['emit'], ['rev'])]);
          await h.orchestrator.start(w);
          await runInBackground(h, w.id);
          const r = await h.store.retrieve(w.id);
          expect([stageOf(r, 'rev').status, stageOf(r, 'after').status, r.status]).toEqual([St.SUCCEEDED, St.SUCCEEDED, St.SUCCEEDED]);
          expect(stageOf(r, 'rev_instance_2').status).toBe(St.CANCELED);
          expect(stageOf(r, 'rev_instance_2').context._withdrawn).toEqual({ reason: 'multiInstanceJoin' });
          expect(performance.now() - started).toBeLessThan(5000); // nobody waited for the withdrawn 10 s instance
        },
        { maxWorkers: 8 },
      ),
    );

    it(
      'WCP-36 dynamic partial join for instances: fires at N over the instances added so far, then takes no more',
      withHarness(
        async (h) => {
          registerPatternTasks(h);
          const rev = MultiInstanceBuilder.dynamic(S('rev', ['sleepy'], ['gate']), { joinThreshold: 2 });
          const w = wf([S('gate', ['susp']), rev, S('after', ['emit'], ['rev'])]);
          await h.run(w); // the stage is not reached yet: instances can be added before it starts
          for (const sleepMs of [0, 0, 200]) await h.orchestrator.send(Messages.addMultiInstance(w.id, rev.id, { sleepMs }));
          await h.drain();
          await h.orchestrator.signal(w, w.stages[0]!.id, 'go', {});
          await h.drain();
          let r = await h.store.retrieve(w.id);
          expect([stageOf(r, 'rev').status, stageOf(r, 'after').status, r.status]).toEqual([St.SUCCEEDED, St.SUCCEEDED, St.SUCCEEDED]);
          expect(r.stages.filter((s) => s.parentStageId === rev.id)).toHaveLength(3);
          await h.orchestrator.send(Messages.addMultiInstance(w.id, rev.id, { sleepMs: 0 }));
          await h.drain();
          r = await h.store.retrieve(w.id);
          expect(r.stages.filter((s) => s.parentStageId === rev.id)).toHaveLength(3);
        },
        { maxWorkers: 8 },
      ),
    );
  });

  describe('WCP state-based, iteration, triggers, termination', () => {
    it(
      'WCP-16 deferred choice driven by the environment: the first trigger wins, the other branch (its trigger too) is withdrawn',
      withHarness(async (h) => {
        registerPatternTasks(h);
        const g = { deferredChoiceGroup: 'reply' };
        const w = wf([
          S('root', ['emit']),
          S('email', ['susp'], ['root']),
          S('call', ['susp'], ['root']),
          S('handleEmail', ['emit'], ['email'], {}, g),
          S('handleCall', ['emit'], ['call'], {}, g),
          S('done', ['emit'], ['handleEmail', 'handleCall']),
        ]);
        let r = await h.run(w);
        expect([stageOf(r, 'email').status, stageOf(r, 'call').status, r.status]).toEqual([St.SUSPENDED, St.SUSPENDED, St.RUNNING]);
        await h.orchestrator.signal(w, stageOf(r, 'call').id, 'ring', { from: 'alice' });
        await h.drain();
        r = await h.store.retrieve(w.id);
        expect(['call', 'handleCall', 'done'].map((ref) => stageOf(r, ref).status)).toEqual([St.SUCCEEDED, St.SUCCEEDED, St.SUCCEEDED]);
        for (const ref of ['handleEmail', 'email']) {
          expect(stageOf(r, ref).status).toBe(St.CANCELED);
          expect(stageOf(r, ref).context._withdrawn).toEqual({ reason: 'deferredChoice:reply' });
        }
        expect(count(h, 'handleEmail')).toBe(0);
        expect(r.status).toBe(St.SUCCEEDED);
      }),
    );

    it(
      'WCP-17 interleaved parallel routing: a partial order, never two at once',
      withHarness(
        async (h) => {
          const log = registerPatternTasks(h);
          const m = { mutexKey: 'ipr' };
          const r = await h.run(wf([S('a', ['track'], [], { delayMs: 40 }, m), S('b', ['track'], ['a'], { delayMs: 40 }, m), S('c', ['track'], [], { delayMs: 40 }, m), S('d', ['track'], [], { delayMs: 40 }, m)]));
          expect(r.status).toBe(St.SUCCEEDED);
          expect(anyOverlap(log.intervals)).toBe(false);
          expect(span(log.intervals, 'b').start).toBeGreaterThanOrEqual(span(log.intervals, 'a').end);
        },
        { maxWorkers: 8 },
      ),
    );

    it(
      'WCP-18 milestone: the gated stage waits for the milestone status and starts when it is reached',
      withHarness(
        async (h) => {
          registerPatternTasks(h);
          const delayed = delayedPushes(h);
          const w = wf([S('a', ['track'], [], { delayMs: 50 }), S('m', ['susp'], ['a']), S('g', ['track'], [], {}, { milestoneRefId: 'm', milestoneStatus: St.SUSPENDED })]);
          let r = await h.run(w);
          expect([stageOf(r, 'm').status, stageOf(r, 'g').status]).toEqual([St.SUSPENDED, St.SUCCEEDED]);
          expect(h.executions.indexOf('g')).toBeGreaterThan(h.executions.indexOf('m'));
          expect(delayed).toEqual([]);
          await h.orchestrator.signal(w, stageOf(r, 'm').id, 'done', {});
          await h.drain();
          r = await h.store.retrieve(w.id);
          expect(r.status).toBe(St.SUCCEEDED);
        },
        { maxWorkers: 4 },
      ),
    );

    it(
      'WCP-19 cancel task: a withdrawn task ends, the case goes on',
      withHarness(
        async (h) => {
          const log = registerPatternTasks(h);
          const w = wf([S('root', ['emit']), S('a', ['sleepy'], ['root']), S('b', ['emit'], ['root']), S('j', ['emit'], ['a', 'b'])]);
          await h.orchestrator.start(w);
          h.processor.start();
          await until(async () => count(h, 'a') === 1); // the task body is executing
          await h.orchestrator.send(Messages.cancelStage(w.id, w.stages[1]!.id, { withdraw: true, reason: 'no longer needed' }));
          await until(async () => isComplete((await h.store.retrieveWorkflowOnly(w.id)).status));
          await h.processor.stop();
          const r = await h.store.retrieve(w.id);
          expect([stageOf(r, 'a').status, stageOf(r, 'j').status, r.status]).toEqual([St.CANCELED, St.SUCCEEDED, St.SUCCEEDED]);
          expect(stageOf(r, 'a').context._withdrawn).toEqual({ reason: 'no longer needed' });
          await until(async () => log.intervals.length > 0);
          expect(log.intervals[0]!.aborted).toBe(true);
        },
        { maxWorkers: 4 },
      ),
    );

    it(
      'WCP-21 structured loops: while and repeat-until with LoopBuilder',
      withHarness(async (h) => {
        registerLoopTasks(h.registry);
        h.registry.register('inc', (stage) => {
          h.executions.push(stage.refId);
          return TaskResult.success({ outputs: { i: Number(stage.context.i ?? 0) + 1 } });
        });
        const whileLoop = LoopBuilder.whileLoop('i < 3', [S('body', ['inc'])], { prefix: 'w', context: { i: 0 }, requisites: ['before'], maxIterations: 5 });
        let r = await h.run(wf([S('before', ['emit']), ...whileLoop, S('after', ['echo'], [LoopBuilder.exitRefId('w')])]));
        expect(r.status).toBe(St.SUCCEEDED);
        expect(count(h, 'body')).toBe(3);
        expect(h.echoed.get('after')).toMatchObject({ i: 3, loop_iterations: 3 });
        // a false condition on entry runs the body zero times
        r = await h.run(wf([...LoopBuilder.whileLoop('i < 0', [S('never', ['inc'])], { prefix: 'z', context: { i: 0 } }), S('after0', ['echo'], ['z_exit'])]));
        expect([r.status, count(h, 'never'), stageOf(r, 'never').status]).toEqual([St.SUCCEEDED, 0, St.SKIPPED]);
        // repeat-until runs the body at least once
        r = await h.run(wf([...LoopBuilder.repeatUntil('i >= 2', [S('step', ['inc'])], { prefix: 'r', context: { i: 0 } }), S('after2', ['echo'], ['r_exit'])]));
        expect([r.status, count(h, 'step')]).toEqual([St.SUCCEEDED, 2]);
        expect(h.echoed.get('after2')).toMatchObject({ i: 2 });
        // the iteration bound fails the loop
        r = await h.run(wf(LoopBuilder.whileLoop('True', [S('spin', ['inc'])], { prefix: 'x', maxIterations: 3 })));
        expect([r.status, count(h, 'spin')]).toEqual([St.TERMINAL, 3]);
        expect(stageOf(r, 'x_condition').context.error).toBe('Loop exceeded 3 iterations');
      }),
    );

    it(
      'WCP-22 recursion: a task starts a sub-workflow of itself from a JSON spec and resumes on its signal',
      withHarness(async (h) => {
        // A minimal recursive task written against the core API only: the child definition lives in
        // the (persisted) context as JSON; the child's last stage signals the parent (persistent).
        h.registry.register('recurse', async (stage, ctx) => {
          const depth = Number(stage.context.depth ?? 0);
          const max = Number(stage.context.maxDepth ?? 3);
          if (depth >= max) return TaskResult.success({ outputs: { result: depth } });
          const data = stage.context._signal_data as { result?: number } | undefined;
          if (stage.context._signal_name === 'child_done' && data) return TaskResult.success({ outputs: { result: data.result } });
          if (!stage.context._sub_workflow_id) {
            const spec = stage.context._sub_workflow_config as { stages: Array<{ refId: string; requisiteStageRefIds?: string[]; tasks: string[]; context?: Record<string, unknown> }> };
            const child = Workflow.create({
              id: `${stage.id}-child`,
              application: 'conformance',
              name: `recursion depth ${depth + 1}`,
              context: { _parent_workflow_id: ctx.workflowId, _parent_stage_id: stage.id },
              stages: spec.stages.map((s) =>
                S(s.refId, s.tasks, s.requisiteStageRefIds ?? [], { ...s.context, depth: depth + 1, maxDepth: max, _sub_workflow_config: spec, _parent: { workflowId: ctx.workflowId, stageId: stage.id } }),
              ),
            });
            await h.orchestrator.start(child);
            return TaskResult.suspend({ context: { _sub_workflow_id: child.id } });
          }
          return TaskResult.suspend();
        });
        h.registry.register('notifyParent', async (stage) => {
          const parent = stage.context._parent as { workflowId: string; stageId: string };
          await h.orchestrator.signal(parent.workflowId, parent.stageId, 'child_done', { result: stage.context.result }, { persistent: true });
          return TaskResult.success();
        });
        const spec = { stages: [{ refId: 'rec', tasks: ['recurse'] }, { refId: 'notify', requisiteStageRefIds: ['rec'], tasks: ['notifyParent'] }] };
        const top = wf([S('rec', ['recurse'], [], { depth: 0, maxDepth: 3, _sub_workflow_config: spec })]);
        const r = await h.run(top);
        expect(r.status).toBe(St.SUCCEEDED);
        expect(stageOf(r, 'rec').outputs).toEqual({ result: 3 });
        const children = await h.store.listWorkflows({ application: 'conformance' });
        expect(children.filter((c) => c.name.startsWith('recursion depth')).map((c) => [c.name, c.status]).sort()).toEqual([
          ['recursion depth 1', St.SUCCEEDED],
          ['recursion depth 2', St.SUCCEEDED],
          ['recursion depth 3', St.SUCCEEDED],
        ]);
      }),
    );

    it(
      'WCP-43 explicit termination: an end stage ends the workflow at once and withdraws the rest',
      withHarness(
        async (h) => {
          const log = registerPatternTasks(h);
          const r = await h.run(
            wf([S('root', ['emit']), S('end', ['emit'], ['root'], { terminateWorkflow: true }), S('long', ['sleepy'], ['root']), S('long2', ['emit'], ['long']), S('other', ['emit'], ['end'])]),
          );
          expect(r.status).toBe(St.SUCCEEDED);
          expect(stageOf(r, 'end').status).toBe(St.SUCCEEDED);
          for (const ref of ['long', 'long2', 'other']) expect([ref, stageOf(r, ref).status]).toEqual([ref, St.CANCELED]);
          expect(count(h, 'long2') + count(h, 'other')).toBe(0);
          await until(async () => log.intervals.length > 0 || count(h, 'long') === 0);
          if (log.intervals.length > 0) expect(log.intervals[0]!.aborted).toBe(true);
        },
        { maxWorkers: 4 },
      ),
    );

    it(
      'WCP-43 explicit termination by message, with a chosen status',
      withHarness(async (h) => {
        registerPatternTasks(h);
        const w = wf([S('a', ['susp']), S('b', ['emit'], ['a'])]);
        await h.run(w);
        await h.orchestrator.send(Messages.terminateWorkflow(w.id, { status: St.TERMINAL, reason: 'operator stop' }));
        await h.drain();
        const r = await h.store.retrieve(w.id);
        expect([r.status, stageOf(r, 'a').status, stageOf(r, 'b').status]).toEqual([St.TERMINAL, St.CANCELED, St.CANCELED]);
        expect(stageOf(r, 'a').context._withdrawn).toEqual({ reason: 'operator stop' });
      }),
    );
  });

  describe('WCP advanced joins', () => {
    it(
      'WCP-8 multi-merge: every thread passes, and a downstream multi-merge fires per thread too',
      withHarness(async (h) => {
        const r = await h.run(wf([...twoThreads('mm'), S('next', ['counter'], ['mm'], {}, { joinType: JoinType.MULTI_MERGE }), S('once', ['counter'], ['mm'])]));
        expect([count(h, 'mm'), count(h, 'next'), count(h, 'once')]).toEqual([2, 2, 1]);
        expect(r.status).toBe(St.SUCCEEDED);
      }),
    );

    it(
      'WCP-28 blocking discriminator fires once per round; the structured one once',
      withHarness(
        async (h) => {
          registerPatternTasks(h);
          const shape = (joinType: JoinType) => [...twoThreads('mm'), S('b', ['track'], [], { delayMs: 150 }), S('j', ['counter'], ['mm', 'b'], {}, { joinType })];
          let r = await h.run(wf(shape(JoinType.BLOCKING_DISCRIMINATOR)));
          expect([count(h, 'j'), r.status]).toEqual([2, St.SUCCEEDED]);
          h.executions.length = 0;
          r = await h.run(wf(shape(JoinType.DISCRIMINATOR)));
          expect([count(h, 'j'), r.status]).toEqual([1, St.SUCCEEDED]);
        },
        { maxWorkers: 4 },
      ),
    );

    it(
      'WCP-29 cancelling discriminator withdraws what only fed it',
      withHarness(
        async (h) => {
          const log = registerPatternTasks(h);
          const w = wf([S('root', ['emit']), S('a', ['emit'], ['root']), S('b1', ['sleepy'], ['root']), S('b2', ['emit'], ['b1']), S('j', ['emit'], ['a', 'b2'], {}, { joinType: JoinType.CANCELLING_DISCRIMINATOR })]);
          await h.orchestrator.start(w);
          await runInBackground(h, w.id);
          const r = await h.store.retrieve(w.id);
          expect([stageOf(r, 'j').status, stageOf(r, 'b1').status, stageOf(r, 'b2').status, r.status]).toEqual([St.SUCCEEDED, St.CANCELED, St.CANCELED, St.SUCCEEDED]);
          expect(stageOf(r, 'b2').context._withdrawn).toEqual({ reason: 'cancellingJoin:j' });
          await until(async () => log.intervals.length > 0 || count(h, 'b1') === 0);
          if (log.intervals.length > 0) expect(log.intervals[0]!.aborted).toBe(true);
        },
        { maxWorkers: 4 },
      ),
    );

    it(
      'WCP-31 blocking partial join: N of M per round',
      withHarness(
        async (h) => {
          registerPatternTasks(h);
          const shape = (joinType: JoinType) => [...twoThreads('m1'), ...twoThreads('m2'), S('d', ['track'], [], { delayMs: 150 }), S('j', ['counter'], ['m1', 'm2', 'd'], {}, { joinType, joinThreshold: 2 })];
          let r = await h.run(wf(shape(JoinType.BLOCKING_N_OF_M)));
          expect([count(h, 'j'), r.status]).toEqual([2, St.SUCCEEDED]);
          h.executions.length = 0;
          r = await h.run(wf(shape(JoinType.N_OF_M)));
          expect([count(h, 'j'), r.status]).toEqual([1, St.SUCCEEDED]);
        },
        { maxWorkers: 4 },
      ),
    );

    it(
      'WCP-32 cancelling partial join withdraws the remaining branch at N',
      withHarness(
        async (h) => {
          registerPatternTasks(h);
          const w = wf([S('root', ['emit']), S('a', ['emit'], ['root']), S('b', ['emit'], ['root']), S('c', ['sleepy'], ['root']), S('j', ['emit'], ['a', 'b', 'c'], {}, { joinType: JoinType.CANCELLING_N_OF_M, joinThreshold: 2 })]);
          await h.orchestrator.start(w);
          await runInBackground(h, w.id);
          const r = await h.store.retrieve(w.id);
          expect([stageOf(r, 'j').status, stageOf(r, 'c').status, r.status]).toEqual([St.SUCCEEDED, St.CANCELED, St.SUCCEEDED]);
        },
        { maxWorkers: 4 },
      ),
    );

    it(
      'WCP-33 generalised AND-join fires once per complete set of threads',
      withHarness(async (h) => {
        const r = await h.run(
          wf([
            ...twoThreads('m1'),
            ...twoThreads('m2'),
            S('z', ['emit']),
            S('g', ['counter'], ['m1', 'm2'], {}, { joinType: JoinType.GENERALISED_AND }),
            S('g2', ['counter'], ['m1', 'z'], {}, { joinType: JoinType.GENERALISED_AND }),
          ]),
        );
        expect([count(h, 'g'), count(h, 'g2'), r.status]).toEqual([2, 1, St.SUCCEEDED]);
        expect(stageOf(r, 'g2').context._fire_final).toBe(true);
      }),
    );

    it(
      'WCP-38 general synchronizing merge: an OR-join waits until every input is done or dead, wherever the decision was made',
      withHarness(async (h) => {
        const g = { deferredChoiceGroup: 'pick' };
        const r = await h.run(wf([S('root', ['emit']), S('a', ['emit'], ['root'], {}, g), S('a2', ['emit'], ['a']), S('b', ['emit'], ['root'], {}, g), S('b2', ['emit'], ['b']), S('j', ['counter'], ['a2', 'b2'], {}, { joinType: JoinType.OR })]));
        expect([stageOf(r, 'j').status, count(h, 'j'), r.status]).toEqual([St.SUCCEEDED, 1, St.SUCCEEDED]);
        const loser = ['a', 'b'].find((ref) => stageOf(r, ref).status === St.CANCELED)!;
        expect(stageOf(r, `${loser}2`).context._dead_path).toBe(true);
        expect(stageOf(r, 'j').context._activated_branches).toBeUndefined();
      }),
    );

    it(
      'WCP-39/40 critical section and interleaved routing across workflows of one store',
      withHarness(
        async (h) => {
          const log = registerPatternTasks(h);
          const delayed = delayedPushes(h);
          const m = { mutexKey: 'ledger' };
          const w1 = wf([S('cs1', ['track', 'track'], [], { delayMs: 40 }, m), S('x1', ['track'], [], { delayMs: 40 }, { mutexKey: 'other' })]);
          const w2 = wf([S('cs2', ['track', 'track'], [], { delayMs: 40 }, m), S('j2', ['track'], ['cs2'], { delayMs: 40 }, m)]);
          await h.orchestrator.start(w1);
          await h.orchestrator.start(w2);
          await h.drain();
          for (const w of [w1, w2]) expect((await h.store.retrieveWorkflowOnly(w.id)).status).toBe(St.SUCCEEDED);
          const spans = ['cs1', 'cs2', 'j2'].map((ref) => span(log.intervals, ref));
          expect(anyOverlap(spans)).toBe(false);
          expect(delayed).toEqual([]); // waiters were woken by releases, not by timers
        },
        { maxWorkers: 8 },
      ),
    );

    it(
      'WCP-39 many workflows contending for one mutex: one at a time, every one finishes, nothing polls',
      withHarness(
        async (h) => {
          const log = registerPatternTasks(h);
          const delayed = delayedPushes(h);
          const flows = Array.from({ length: 6 }, (_, i) => wf([S(`cs${i}`, ['track'], [], { delayMs: 15 }, { mutexKey: 'hot' }), S(`after${i}`, ['emit'], [`cs${i}`])]));
          for (const w of flows) await h.orchestrator.start(w);
          await h.drain();
          for (const w of flows) expect((await h.store.retrieveWorkflowOnly(w.id)).status).toBe(St.SUCCEEDED);
          expect(log.intervals).toHaveLength(6);
          expect(anyOverlap(log.intervals)).toBe(false);
          expect(delayed).toEqual([]);
        },
        { maxWorkers: 8 },
      ),
    );

    it(
      'WCP-39 a canceled holder releases the mutex and wakes its waiter',
      withHarness(async (h) => {
        registerPatternTasks(h);
        const m = { mutexKey: 'db' };
        const w = wf([S('holder', ['susp'], [], {}, m), S('waiter', ['emit'], [], {}, m)]);
        let r = await h.run(w);
        expect([stageOf(r, 'holder').status, stageOf(r, 'waiter').status]).toEqual([St.SUSPENDED, St.NOT_STARTED]);
        await h.orchestrator.send(Messages.cancelStage(w.id, w.stages[0]!.id, { withdraw: true }));
        await h.drain();
        r = await h.store.retrieve(w.id);
        expect([stageOf(r, 'holder').status, stageOf(r, 'waiter').status, r.status]).toEqual([St.CANCELED, St.SUCCEEDED, St.SUCCEEDED]);
      }),
    );

    it(
      'WCP-39 a release wakes the next waiter in line; one that no longer wants the mutex passes the turn on',
      withHarness(async (h) => {
        registerPatternTasks(h);
        const m = { mutexKey: 'turns' };
        const holder = wf([S('h', ['susp'], [], {}, m)]);
        const first = wf([S('w1', ['emit'], [], {}, m)]);
        const second = wf([S('w2', ['emit'], [], {}, m)]);
        for (const w of [holder, first, second]) await h.run(w);
        expect([(await h.store.retrieveStage(first.stages[0]!.id)).status, (await h.store.retrieveStage(second.stages[0]!.id)).status]).toEqual([St.NOT_STARTED, St.NOT_STARTED]);
        expect(await h.queue.size()).toBe(0); // both wait in line, nothing polls
        await h.orchestrator.signal(holder, holder.stages[0]!.id, 'go', {});
        await stepUntil(h, async () => (await h.store.retrieveStage(holder.stages[0]!.id)).status === St.SUCCEEDED);
        // w1 has been woken; before its turn is handled its workflow ends (hand-made, as by another worker)
        await h.store.commit(new Transaction().updateWorkflow(first, { status: St.TERMINAL }));
        await h.drain();
        expect((await h.store.retrieveStage(first.stages[0]!.id)).status).toBe(St.NOT_STARTED);
        expect((await h.store.retrieve(second.id)).status).toBe(St.SUCCEEDED);
        expect(count(h, 'w2')).toBe(1);
      }),
    );

    it(
      'WCP-41/42 thread split and thread merge',
      withHarness(async (h) => {
        const r = await h.run(
          wf([
            S('split', ['emit'], [], { threadCount: 3 }),
            S('body', ['counter'], ['split'], {}, { joinType: JoinType.MULTI_MERGE }),
            S('merge', ['counter'], ['body'], {}, { joinType: JoinType.THREAD_MERGE, joinThreshold: 3 }),
            S('after', ['counter'], ['merge']),
          ]),
        );
        expect([count(h, 'body'), count(h, 'merge'), count(h, 'after'), r.status]).toEqual([3, 1, 1, St.SUCCEEDED]);
      }),
    );
  });
}

export type { Harness };
