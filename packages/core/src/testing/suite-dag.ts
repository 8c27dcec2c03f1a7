// Engine scenarios of engine.md §14 A (DAG execution), B (failure semantics) and F (data flow).
import { describe, expect, it } from 'vitest';
import { CircularDependencyError, InvalidStageGraphError } from '../errors.js';
import { defaultHandlers } from '../handlers/index.js';
import { WorkflowStatus } from '../model/status.js';
import { Workflow } from '../model/workflow.js';
import type { BackendFactory } from './backend.js';
import { createHarness, type Harness, S, stageOf } from './harness.js';

const wf = (stages: ReturnType<typeof S>[], context: Record<string, unknown> = {}) => Workflow.create({ application: 'conformance', name: 'scenario', stages, context });

export function dagScenarios(factory: BackendFactory): void {
  const withHarness = (fn: (h: Harness) => Promise<void>, options?: Parameters<typeof createHarness>[1]) => async () => {
    const h = await createHarness(factory, options);
    try {
      await fn(h);
    } finally {
      await h.close();
    }
  };

  describe('A. DAG execution', () => {
    it(
      '1. single stage succeeds in exactly 2 handled messages (StartWorkflow starts it, RunTask finishes stage and workflow)',
      withHarness(async (h) => {
        const w = wf([S('1', ['success'])]);
        await h.orchestrator.start(w);
        const handled = await h.drain();
        const result = await h.store.retrieve(w.id);
        expect(result.status).toBe(WorkflowStatus.SUCCEEDED);
        expect(stageOf(result, '1').status).toBe(WorkflowStatus.SUCCEEDED);
        expect(stageOf(result, '1').outputs).toEqual({ success: true });
        expect(handled).toBe(2); // StartWorkflow (+ StartStage), RunTask (+ CompleteStage, CompleteWorkflow)
        expect(await h.queue.size()).toBe(0);
      }),
    );

    it(
      'a chain of plain stages costs one message per stage (completion, the next start and the workflow end are fused into commits)',
      withHarness(async (h) => {
        const w = wf([S('1', ['counter']), S('2', ['counter'], ['1']), S('3', ['counter'], ['2']), S('4', ['counter'], ['3'])]);
        await h.orchestrator.start(w);
        const handled = await h.drain();
        const result = await h.store.retrieve(w.id);
        expect(result.status).toBe(WorkflowStatus.SUCCEEDED);
        expect(h.executions).toEqual(['1', '2', '3', '4']);
        for (const ref of ['1', '2', '3', '4']) expect(stageOf(result, ref).status).toBe(WorkflowStatus.SUCCEEDED);
        expect(stageOf(result, '4').outputs).toEqual({ count: 4 });
        expect(handled).toBe(5); // StartWorkflow (+ StartStage 1), 4 x RunTask (the last one ends the workflow)
        expect(await h.queue.size()).toBe(0);
      }),
    );

    it(
      "a fan-out's plain branches start in the commit that finishes the split; only the join gets a StartStage",
      withHarness(async (h) => {
        const branches = Array.from({ length: 10 }, (_, i) => S(`b${i}`, ['counter'], ['root']));
        const w = wf([S('root', ['success']), ...branches, S('join', ['success'], branches.map((b) => b.refId))]);
        const startStage = defaultHandlers().StartStage!;
        const started: string[] = [];
        h.processor.registerHandler('StartStage', async (deps, input) => {
          started.push(input.message.stageId);
          await startStage(deps, input);
        });
        const result = await h.run(w);
        expect(result.status).toBe(WorkflowStatus.SUCCEEDED);
        for (const b of branches) expect(stageOf(result, b.refId).status).toBe(WorkflowStatus.SUCCEEDED);
        expect(stageOf(result, 'join').status).toBe(WorkflowStatus.SUCCEEDED);
        expect(new Set(started)).toEqual(new Set([stageOf(result, 'join').id]));
      }),
    );

    it(
      '2. linear chain runs in order',
      withHarness(async (h) => {
        const result = await h.run(wf([S('1', ['counter']), S('2', ['counter'], ['1']), S('3', ['counter'], ['2'])]));
        expect(result.status).toBe(WorkflowStatus.SUCCEEDED);
        expect(h.executions).toEqual(['1', '2', '3']);
        expect(stageOf(result, '3').outputs).toEqual({ count: 3 });
      }),
    );

    it(
      '3. diamond: the join runs once',
      withHarness(async (h) => {
        const result = await h.run(wf([S('a', ['counter']), S('b', ['counter'], ['a']), S('c', ['counter'], ['a']), S('d', ['counter'], ['b', 'c'])]));
        expect(result.status).toBe(WorkflowStatus.SUCCEEDED);
        expect(result.stages.map((s) => s.status)).toEqual(Array(4).fill(WorkflowStatus.SUCCEEDED));
        expect(h.executions.filter((r) => r === 'd')).toHaveLength(1);
        expect(h.executions).toHaveLength(4);
      }),
    );

    it(
      '4. a join waits for the slow branch',
      withHarness(
        async (h) => {
          const result = await h.run(
            wf([
              S('a', ['emit'], [], { emit: { from_a: true } }),
              S('b', ['emit'], ['a'], { emit: { from_b: true }, delayMs: 300 }),
              S('c', ['emit'], ['a'], { emit: { from_c: true } }),
              S('d', ['echo'], ['b', 'c']),
            ]),
          );
          expect(result.status).toBe(WorkflowStatus.SUCCEEDED);
          expect(h.echoed.get('d')).toMatchObject({ from_a: true, from_b: true, from_c: true });
        },
        { maxWorkers: 4 },
      ),
    );

    it(
      '5. wide fan-out with random delays joins once with every branch output',
      withHarness(
        async (h) => {
          const branches = [1, 2, 3, 4, 5].map((i) => S(`b${i}`, ['emit'], ['root'], { emit: { [`from_branch_${i}`]: i }, delayMs: 10 + Math.floor(Math.random() * 90) }));
          const result = await h.run(wf([S('root', ['emit'], [], { emit: { from_a: true } }), ...branches, S('join', ['echo'], branches.map((b) => b.refId))]));
          expect(result.status).toBe(WorkflowStatus.SUCCEEDED);
          expect(h.echoed.get('join')).toMatchObject({ from_a: true, from_branch_1: 1, from_branch_2: 2, from_branch_3: 3, from_branch_4: 4, from_branch_5: 5 });
          expect(h.executions.filter((r) => r === 'join')).toHaveLength(1);
        },
        { maxWorkers: 4 },
      ),
    );

    it(
      '6. deep diamond passes every ancestor output down',
      withHarness(async (h) => {
        const e = (ref: string, req: string[]) => S(ref, ['emit'], req, { emit: { [`from_${ref}`]: true } });
        const result = await h.run(wf([e('a', []), e('b', ['a']), e('c', ['a']), e('d', ['b', 'c']), e('e', ['d']), e('f', ['d']), S('g', ['echo'], ['e', 'f'])]));
        expect(result.status).toBe(WorkflowStatus.SUCCEEDED);
        expect(h.echoed.get('g')).toMatchObject({ from_a: true, from_b: true, from_c: true, from_d: true, from_e: true, from_f: true });
      }),
    );

    it(
      '7. independent roots both run',
      withHarness(async (h) => {
        const result = await h.run(wf([S('a', ['success']), S('b', ['success'])]));
        expect(result.status).toBe(WorkflowStatus.SUCCEEDED);
        expect(result.stages.map((s) => s.status)).toEqual([WorkflowStatus.SUCCEEDED, WorkflowStatus.SUCCEEDED]);
      }),
    );

    it(
      '8. an empty stage in the middle succeeds',
      withHarness(async (h) => {
        const result = await h.run(wf([S('a', []), S('b', ['success'], ['a'])]));
        expect(result.status).toBe(WorkflowStatus.SUCCEEDED);
        expect(stageOf(result, 'a').status).toBe(WorkflowStatus.SUCCEEDED);
        expect(stageOf(result, 'a').tasks).toHaveLength(0);
        expect(stageOf(result, 'b').status).toBe(WorkflowStatus.SUCCEEDED);
      }),
    );

    it(
      '9. a workflow without stages ends TERMINAL',
      withHarness(async (h) => {
        const result = await h.run(wf([]));
        expect(result.status).toBe(WorkflowStatus.TERMINAL);
      }),
    );

    it(
      '10. graph validation names the culprit before anything is stored',
      withHarness(async (h) => {
        const attempt = (stages: ReturnType<typeof S>[]) => () => wf(stages);
        expect(attempt([S('x', []), S('x', [])])).toThrow(/^duplicate_ref: ref_id 'x' is used by more than one stage$/);
        expect(attempt([S('x', [], ['x'])])).toThrow(/^self_edge: stage 'x' lists itself as a requisite$/);
        expect(attempt([S('x', [], ['nope'])])).toThrow(/^unknown_ref: stage 'x' requires nonexistent stage\(s\) \['nope'\]$/);
        expect(attempt([S('x', [], ['y']), S('y', [], ['x'])])).toThrow(CircularDependencyError);
        try {
          wf([S('x', [], ['nope'])]);
        } catch (error) {
          expect(error).toBeInstanceOf(InvalidStageGraphError);
          expect((error as InvalidStageGraphError).problem).toBe('unknown_ref');
          expect((error as InvalidStageGraphError).refIds).toEqual(['x', 'nope']);
        }
        const valid = wf([S('a', []), S('b', [], ['a']), S('c', [], ['a']), S('d', [], ['b', 'c'])]);
        expect(valid.stages).toHaveLength(4);
        expect(await h.store.listWorkflows({})).toEqual([]);
      }),
    );

    it(
      '11. fifty tasks in one stage run in list order',
      withHarness(async (h) => {
        const names: string[] = [];
        h.registry.register('named', (stage) => {
          names.push(stage.tasks.find((t) => t.status === WorkflowStatus.RUNNING)!.name);
          return { status: WorkflowStatus.SUCCEEDED, context: {}, outputs: {}, targetStageRefId: null } as never;
        });
        const stage = S('many', Array(50).fill('named'));
        const result = await h.run(wf([stage]));
        expect(result.status).toBe(WorkflowStatus.SUCCEEDED);
        expect(stageOf(result, 'many').tasks.map((t) => t.status)).toEqual(Array(50).fill(WorkflowStatus.SUCCEEDED));
        expect(names).toEqual(stage.tasks.map((t) => t.name));
      }),
    );
  });

  describe('B. Failure semantics', () => {
    it(
      '12. a failure stops downstream',
      withHarness(async (h) => {
        const result = await h.run(wf([S('1', ['fail']), S('2', ['success'], ['1'])]));
        expect(result.status).toBe(WorkflowStatus.TERMINAL);
        expect(stageOf(result, '1').status).toBe(WorkflowStatus.TERMINAL);
        expect(stageOf(result, '2').status).toBe(WorkflowStatus.NOT_STARTED);
      }),
    );

    it(
      '13. a middle failure leaves the tail untouched',
      withHarness(async (h) => {
        const result = await h.run(wf([S('A', ['success']), S('B', ['fail'], ['A']), S('C', ['success'], ['B'])]));
        expect(result.status).toBe(WorkflowStatus.TERMINAL);
        expect(result.stages.map((s) => s.status)).toEqual([WorkflowStatus.SUCCEEDED, WorkflowStatus.TERMINAL, WorkflowStatus.NOT_STARTED]);
      }),
    );

    it(
      '14. parallel roots, one fails',
      withHarness(async (h) => {
        const result = await h.run(wf([S('ok', ['success']), S('bad', ['fail'])]));
        expect(result.status).toBe(WorkflowStatus.TERMINAL);
        expect([WorkflowStatus.SUCCEEDED, WorkflowStatus.CANCELED]).toContain(stageOf(result, 'ok').status);
        expect(stageOf(result, 'bad').status).toBe(WorkflowStatus.TERMINAL);
      }),
    );

    it(
      '15. a failing branch cancels its polling sibling',
      withHarness(async (h) => {
        const result = await h.run(wf([S('a', ['success']), S('b', ['fail'], ['a']), S('c', ['poll'], ['a'], { pollTimes: 3 }), S('d', ['success'], ['b', 'c'])]));
        expect(result.status).toBe(WorkflowStatus.TERMINAL);
        expect(stageOf(result, 'b').status).toBe(WorkflowStatus.TERMINAL);
        expect(stageOf(result, 'c').status).toBe(WorkflowStatus.CANCELED);
        expect(stageOf(result, 'd').status).toBe(WorkflowStatus.NOT_STARTED);
      }),
    );

    it(
      '16. failPipeline=false stops the branch quietly',
      withHarness(async (h) => {
        const result = await h.run(wf([S('a', ['fail'], [], { failPipeline: false }), S('b', ['success'], ['a']), S('c', ['success'])]));
        expect(stageOf(result, 'a').status).toBe(WorkflowStatus.STOPPED);
        expect(stageOf(result, 'a').tasks[0]!.status).toBe(WorkflowStatus.STOPPED);
        expect(stageOf(result, 'a').context.error).toBe('Task failed intentionally');
        expect(stageOf(result, 'b').status).toBe(WorkflowStatus.NOT_STARTED);
        expect(stageOf(result, 'c').status).toBe(WorkflowStatus.SUCCEEDED);
        expect(result.status).toBe(WorkflowStatus.SUCCEEDED);
      }),
    );

    it(
      '17. completeOtherBranchesThenFail turns the end TERMINAL',
      withHarness(async (h) => {
        const result = await h.run(wf([S('a', ['fail'], [], { failPipeline: false, completeOtherBranchesThenFail: true }), S('c', ['success'])]));
        expect(stageOf(result, 'a').status).toBe(WorkflowStatus.STOPPED);
        expect(stageOf(result, 'c').status).toBe(WorkflowStatus.SUCCEEDED);
        expect(result.status).toBe(WorkflowStatus.TERMINAL);
      }),
    );

    it(
      '18. continuePipelineOnFailure lets downstream run',
      withHarness(async (h) => {
        const result = await h.run(wf([S('a', ['fail'], [], { continuePipelineOnFailure: true }), S('b', ['success'], ['a'])]));
        expect(stageOf(result, 'a').status).toBe(WorkflowStatus.FAILED_CONTINUE);
        expect(stageOf(result, 'a').tasks[0]!.status).toBe(WorkflowStatus.FAILED_CONTINUE);
        expect(stageOf(result, 'b').status).toBe(WorkflowStatus.SUCCEEDED);
        expect(result.status).toBe(WorkflowStatus.SUCCEEDED);
      }),
    );

    it(
      '19. a failedContinue result in parallel still succeeds the workflow',
      withHarness(async (h) => {
        const result = await h.run(wf([S('s', ['success']), S('f', ['fc'])]));
        expect(stageOf(result, 'f').status).toBe(WorkflowStatus.FAILED_CONTINUE);
        expect(result.status).toBe(WorkflowStatus.SUCCEEDED);
      }),
    );

    it(
      '26. a plain exception fails the stage, not transient',
      withHarness(async (h) => {
        const result = await h.run(wf([S('a', ['throw'])]));
        const a = stageOf(result, 'a');
        expect(a.status).toBe(WorkflowStatus.TERMINAL);
        expect(result.status).toBe(WorkflowStatus.TERMINAL);
        expect(a.context.exception).toMatchObject({ details: { error: 'plain failure', errors: ['plain failure'], transient: false } });
      }),
    );
  });

  describe('F. Data flow', () => {
    it(
      '64. branch outputs merge at the join',
      withHarness(async (h) => {
        const result = await h.run(
          wf([
            S('a', ['emit'], [], { emit: { shared_key: 'from_a', a_only: 1 } }),
            S('b', ['emit'], ['a'], { emit: { b_only: 2, b_list: [1, 2] } }),
            S('c', ['emit'], ['a'], { emit: { c_only: 3, c_list: [3, 4] } }),
            S('d', ['echo'], ['b', 'c']),
          ]),
        );
        expect(result.status).toBe(WorkflowStatus.SUCCEEDED);
        expect(h.echoed.get('d')).toMatchObject({ a_only: 1, b_only: 2, c_only: 3, b_list: [1, 2], c_list: [3, 4], shared_key: 'from_a' });
      }),
    );

    it(
      '65. lists are unioned without duplicates; own scalars win',
      withHarness(async (h) => {
        await h.run(
          wf([
            S('a', ['emit'], [], { emit: { items: ['a1', 'a2'] } }),
            S('b', ['emit'], [], { emit: { items: ['b1', 'b2'] } }),
            S('c', ['emit'], [], { emit: { items: ['c1', 'c2'] } }),
            S('d', ['echo'], ['a', 'b', 'c']),
          ]),
        );
        expect([...(h.echoed.get('d')!.items as string[])].sort()).toEqual(['a1', 'a2', 'b1', 'b2', 'c1', 'c2']);
        await h.run(wf([S('A', ['emit'], [], { emit: { k: 'a', lst: [1, 2], only_a: 1 } }), S('B', ['emit'], ['A'], { emit: { k: 'b', lst: [2, 3] } }), S('C', ['echo'], ['B'], { k: 'own', lst: [3, 4] })]));
        expect(h.echoed.get('C')).toMatchObject({ k: 'own', lst: [1, 2, 3, 4], only_a: 1 });
      }),
    );

    it(
      '66. ancestors are transitive; the nearest wins on collisions',
      withHarness(async (h) => {
        await h.run(wf([S('A', ['emit'], [], { emit: { a_value: 'x', shared: 'A' } }), S('B', ['emit'], ['A'], { emit: { shared: 'B' } }), S('C', ['echo'], ['B'])]));
        expect(h.echoed.get('C')).toMatchObject({ a_value: 'x', shared: 'B' });
      }),
    );

    it(
      '67. parallel conflicts resolve the same way every time',
      withHarness(
        async (h) => {
          const seen = new Set<unknown>();
          for (let i = 0; i < 10; i++) {
            await h.run(
              wf([
                S('a', ['success']),
                S('b', ['emit'], ['a'], { emit: { conflict_key: 'from_b' }, delayMs: Math.floor(Math.random() * 20) }),
                S('c', ['emit'], ['a'], { emit: { conflict_key: 'from_c' }, delayMs: Math.floor(Math.random() * 20) }),
                S('d', ['echo'], ['b', 'c']),
              ]),
            );
            seen.add(h.echoed.get('d')!.conflict_key);
          }
          expect([...seen]).toEqual(['from_c']);
        },
        { maxWorkers: 4 },
      ),
    );
  });
}
