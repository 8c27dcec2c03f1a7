// Engine scenarios of engine.md §14 G: dynamic routing with TaskResult.jumpTo.
import { describe, expect, it } from 'vitest';
import { defaultHandlers } from '../handlers/index.js';
import { StageExecution } from '../model/stage-execution.js';
import { WorkflowStatus } from '../model/status.js';
import { TaskExecution } from '../model/task-execution.js';
import { Workflow } from '../model/workflow.js';
import { TaskResult } from '../task/task-result.js';
import type { BackendFactory } from './backend.js';
import { createHarness, type Harness, S, stageOf } from './harness.js';

const S_ = WorkflowStatus;
const wf = (stages: StageExecution[], context: Record<string, unknown> = {}) => Workflow.create({ application: 'conformance', name: 'routing', stages, context });
const count = (h: Harness, ref: string) => h.executions.filter((r) => r === ref).length;

export function routingScenarios(factory: BackendFactory): void {
  const withHarness = (fn: (h: Harness) => Promise<void>) => async () => {
    const h = await createHarness(factory);
    try {
      await fn(h);
    } finally {
      await h.close();
    }
  };
  /** Registers `name`: jumps to `target` on its first `times` executions, then succeeds. */
  const jumper = (h: Harness, name: string, target: string, times = 1, init: { context?: Record<string, unknown>; outputs?: Record<string, unknown> } = {}) => {
    let runs = 0;
    h.registry.register(name, (stage) => {
      h.executions.push(stage.refId);
      runs++;
      return runs <= times ? TaskResult.jumpTo(target, init) : TaskResult.success({ outputs: { [`${stage.refId}_done`]: true } });
    });
  };
  const tracked = (h: Harness) =>
    h.registry.register('tracked', (stage) => {
      h.executions.push(stage.refId);
      h.echoed.set(stage.refId, structuredClone(stage.context));
      return TaskResult.success({ outputs: { [`${stage.refId}_done`]: true } });
    });

  describe('G. Dynamic routing', () => {
    it(
      '70. a forward jump to the next stage carries context and records history',
      withHarness(async (h) => {
        tracked(h);
        jumper(h, 'router', 'implement_stage', 1, { context: { retry_reason: 'tests failed' } });
        const result = await h.run(wf([S('router_stage', ['router']), S('implement_stage', ['tracked'], ['router_stage'])]));
        expect(result.status).toBe(S_.SUCCEEDED);
        expect(stageOf(result, 'implement_stage').status).toBe(S_.SUCCEEDED);
        expect(h.echoed.get('implement_stage')).toMatchObject({ retry_reason: 'tests failed' });
        const router = stageOf(result, 'router_stage');
        expect(router.context._jump_count).toBe(1);
        expect((router.context._jump_history as unknown[])[0]).toEqual({ from_stage: 'router_stage', to_stage: 'implement_stage', jump_number: 1, context_keys: ['retry_reason'] });
      }),
    );

    it(
      '71. a forward jump skips the stages it passes over',
      withHarness(async (h) => {
        tracked(h);
        jumper(h, 'toC', 'C');
        const result = await h.run(wf([S('A', ['toC']), S('B', ['tracked'], ['A']), S('C', ['tracked'], ['B'])]));
        expect(stageOf(result, 'B').status).toBe(S_.SKIPPED);
        expect(stageOf(result, 'C').status).toBe(S_.SUCCEEDED);
        expect(count(h, 'B')).toBe(0);
        expect(result.status).toBe(S_.SUCCEEDED);
      }),
    );

    it(
      '72. a forward jump across a diamond skips both branches',
      withHarness(async (h) => {
        tracked(h);
        jumper(h, 'toD', 'D');
        const result = await h.run(wf([S('A', ['toD']), S('B', ['tracked'], ['A']), S('C', ['tracked'], ['A']), S('D', ['tracked'], ['B', 'C'])]));
        expect(stageOf(result, 'B').status).toBe(S_.SKIPPED);
        expect(stageOf(result, 'C').status).toBe(S_.SKIPPED);
        expect(stageOf(result, 'D').status).toBe(S_.SUCCEEDED);
        expect(result.status).toBe(S_.SUCCEEDED);
      }),
    );

    it(
      '73. a forward jump writes its context and outputs to both ends',
      withHarness(async (h) => {
        tracked(h);
        jumper(h, 'toX', 'x', 1, { context: { jc: 1 }, outputs: { jo: 2 } });
        const result = await h.run(wf([S('a', ['toX']), S('b', ['tracked'], ['a']), S('y', ['tracked'], ['b']), S('x', ['tracked'], ['y'])]));
        for (const ref of ['b', 'y']) {
          expect(stageOf(result, ref).status).toBe(S_.SKIPPED);
          expect(stageOf(result, ref).tasks[0]!.status).toBe(S_.SKIPPED);
        }
        const x = stageOf(result, 'x');
        expect(x.status).toBe(S_.SUCCEEDED);
        expect(x.context._jump_outputs).toEqual({ jo: 2 });
        expect(x.context.jc).toBe(1);
        expect(x.context).not.toHaveProperty('_jump_bypass');
        const a = stageOf(result, 'a');
        expect(a.status).toBe(S_.SUCCEEDED);
        expect(a.context.jc).toBe(1);
        expect(a.outputs.jo).toBe(2);
      }),
    );

    it(
      '74. a backward jump re-runs the stages in between',
      withHarness(async (h) => {
        tracked(h);
        jumper(h, 'backToB', 'B');
        const result = await h.run(wf([S('A', ['tracked']), S('B', ['tracked'], ['A']), S('C', ['backToB'], ['B'])]));
        expect(result.status).toBe(S_.SUCCEEDED);
        expect([count(h, 'A'), count(h, 'B'), count(h, 'C')]).toEqual([1, 2, 2]);
      }),
    );

    it(
      '75. a backward jump to the root re-runs everything after it',
      withHarness(async (h) => {
        tracked(h);
        jumper(h, 'backToA', 'A');
        const result = await h.run(wf([S('A', ['tracked']), S('B', ['tracked'], ['A']), S('C', ['backToA'], ['B'])]));
        expect(result.status).toBe(S_.SUCCEEDED);
        expect([count(h, 'A'), count(h, 'B'), count(h, 'C')]).toEqual([2, 2, 2]);
      }),
    );

    it(
      '76. a self-loop runs until it succeeds',
      withHarness(async (h) => {
        jumper(h, 'self', 'loop', 2);
        const result = await h.run(wf([S('loop', ['self'])]));
        expect(result.status).toBe(S_.SUCCEEDED);
        expect(count(h, 'loop')).toBe(3);
      }),
    );

    it(
      '77. the jump budget stops an endless loop',
      withHarness(async (h) => {
        jumper(h, 'forever', 'loop', 1000);
        const result = await h.run(wf([S('loop', ['forever'], [], { _max_jumps: 3 })]));
        const loop = stageOf(result, 'loop');
        expect(loop.status).toBe(S_.TERMINAL);
        expect(loop.context.jump_error).toContain('Max jump count exceeded');
        expect(loop.context._jump_count as number).toBeLessThanOrEqual(3);
        expect(result.status).toBe(S_.TERMINAL);
        const none = await h.run(wf([S('loop', ['forever'], [], { _max_jumps: 0 })]));
        expect(stageOf(none, 'loop').context.jump_error).toBe('Max jump count exceeded: 0/0');
        expect(none.status).toBe(S_.TERMINAL);
      }),
    );

    it(
      '78. a jump to a missing stage fails the workflow',
      withHarness(async (h) => {
        jumper(h, 'lost', 'nonexistent_stage');
        const result = await h.run(wf([S('a', ['lost'])]));
        expect(result.status).toBe(S_.TERMINAL);
        expect(stageOf(result, 'a').context.jump_error).toBe('Target stage not found: nonexistent_stage');
      }),
    );

    it(
      '79. the jump context is merged over the target context',
      withHarness(async (h) => {
        tracked(h);
        jumper(h, 'toB', 'B', 1, { context: { jump_key: 'jump_value', shared_key: 'from_jump' } });
        const result = await h.run(wf([S('A', ['toB']), S('B', ['tracked'], ['A'], { existing_key: 'kept', shared_key: 'original' })]));
        expect(result.status).toBe(S_.SUCCEEDED);
        expect(h.echoed.get('B')).toMatchObject({ jump_key: 'jump_value', shared_key: 'from_jump', existing_key: 'kept' });
      }),
    );

    it(
      '80. a backward jump inside one branch does not re-run the fan-in',
      withHarness(async (h) => {
        tracked(h);
        jumper(h, 'b2jump', 'a2');
        const result = await h.run(
          wf([
            S('a1', ['tracked']),
            S('b1', ['tracked'], ['a1']),
            S('a2', ['tracked']),
            S('b2', ['b2jump'], ['a2'], { _max_jumps: 2 }),
            S('fan_in', ['tracked'], ['b1', 'b2']),
            S('final', ['tracked'], ['fan_in']),
          ]),
        );
        expect(result.status).toBe(S_.SUCCEEDED);
        expect(['a1', 'a2', 'b1', 'fan_in', 'final'].map((r) => count(h, r))).toEqual([1, 2, 1, 1, 1]);
      }),
    );

    // A -> {B, C} -> J (AND join) -> D; D jumps back once. The target and every stage downstream of
    // it run again; a join's other input keeps its earlier success (docs/decisions.md Q23).
    const diamondWithTail = () =>
      wf([S('A', ['tracked']), S('B', ['tracked'], ['A']), S('C', ['tracked'], ['A']), S('J', ['tracked'], ['B', 'C']), S('D', ['back'], ['J'])]);
    /** The executions in order, except that parallel branches B and C (which may run in either order) are sorted. */
    const ordered = (h: Harness) => {
      const result = [...h.executions];
      for (let i = 0; i + 1 < result.length; i++) if (result[i] === 'C' && result[i + 1] === 'B') [result[i], result[i + 1]] = ['B', 'C'];
      return result;
    };
    it(
      '80a. a backward jump from below a join into one of its branches re-runs that branch and the join',
      withHarness(async (h) => {
        tracked(h);
        jumper(h, 'back', 'B');
        const result = await h.run(diamondWithTail());
        expect(result.status).toBe(S_.SUCCEEDED);
        expect(ordered(h)).toEqual(['A', 'B', 'C', 'J', 'D', 'B', 'J', 'D']);
        for (const ref of ['A', 'B', 'C', 'J', 'D']) expect(stageOf(result, ref).status).toBe(S_.SUCCEEDED);
        expect(stageOf(result, 'D').context._jump_count).toBe(1);
      }),
    );

    it(
      '80b. the same jump into the other branch re-runs that branch and the join',
      withHarness(async (h) => {
        tracked(h);
        jumper(h, 'back', 'C');
        const result = await h.run(diamondWithTail());
        expect(result.status).toBe(S_.SUCCEEDED);
        expect(ordered(h)).toEqual(['A', 'B', 'C', 'J', 'D', 'C', 'J', 'D']);
      }),
    );

    it(
      '80c. a backward jump from below a join to the split re-runs both branches and the join',
      withHarness(async (h) => {
        tracked(h);
        jumper(h, 'back', 'A');
        const result = await h.run(diamondWithTail());
        expect(result.status).toBe(S_.SUCCEEDED);
        expect(ordered(h)).toEqual(['A', 'B', 'C', 'J', 'D', 'A', 'B', 'C', 'J', 'D']);
      }),
    );

    it(
      '81. a jump re-runs the target before-stages; the budget then stops it',
      withHarness(async (h) => {
        tracked(h);
        jumper(h, 'alwaysBack', 'B', 1000);
        const b = S('B', ['tracked'], ['A'], {}, { name: 'Stage B' });
        const setup = StageExecution.createSynthetic({ parent: b, owner: 'STAGE_BEFORE', name: 'B Setup', refId: 'B_setup', tasks: [TaskExecution.create({ name: 'setup', implementingClass: 'tracked' })] });
        const result = await h.run(wf([S('A', ['tracked']), b, setup, S('C', ['alwaysBack'], ['B'], { _max_jumps: 1 })]));
        expect(count(h, 'B')).toBe(2);
        expect(count(h, 'B_setup')).toBe(2);
        expect(result.status).toBe(S_.TERMINAL);
        expect(stageOf(result, 'C').context.jump_error).toContain('Max jump count exceeded');
      }),
    );

    it(
      '82. JumpToStage applies a forward jump in one transaction',
      withHarness(async (h) => {
        const w = wf([S('source', ['success']), S('middle', ['success'], ['source']), S('target', ['success'], ['middle'])]);
        w.status = S_.RUNNING;
        w.stages[0]!.status = S_.RUNNING;
        w.stages[0]!.tasks[0]!.status = S_.RUNNING;
        await h.store.store(w);
        const handlers = defaultHandlers();
        await handlers.JumpToStage!(h.processor.deps, {
          message: { type: 'JumpToStage', executionId: w.id, stageId: w.stages[0]!.id, targetStageRefId: 'target', jumpContext: {}, jumpOutputs: {} },
        });
        const result = await h.store.retrieve(w.id);
        expect(stageOf(result, 'source').status).toBe(S_.SUCCEEDED);
        expect(stageOf(result, 'middle').status).toBe(S_.SKIPPED);
        const target = stageOf(result, 'target');
        expect(target.status).toBe(S_.NOT_STARTED);
        expect(target.context._jump_bypass).toBe(true);
        expect(target.context._jump_count).toBe(1);
        const pending = await h.queue.poll({ limit: 10, leaseMs: 1000 });
        expect(pending.map((d) => d.message)).toEqual([{ type: 'StartStage', executionId: w.id, stageId: target.id }]);
      }),
    );
  });
}
