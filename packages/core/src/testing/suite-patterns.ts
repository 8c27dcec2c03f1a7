// The test scenarios of patterns.md §9 (items 12-94): readiness, splits and OR-joins, partial joins,
// deferred choice, milestones, mutexes, cancellation, triggers, stageEnabled, multi-instance and the
// model. Where Stabilize deliberately differs from upstream (docs/decisions.md, "Patterns"), the test
// pins our behaviour and says so. §9.1 (expressions) lives in test/expressions; items proven by the
// engine suites are listed in docs/patterns.md.
import { describe, expect, it } from 'vitest';
import { MultiInstanceBuilder } from '../builders/multi-instance-builder.js';
import { evaluateReadiness, type UpstreamView } from '../dag/readiness.js';
import { getOutputReducer, registerOutputReducer } from '../dag/reducers.js';
import { CircularDependencyError, ValidationError } from '../errors.js';
import { handleStartStage } from '../handlers/start-stage.js';
import { Messages } from '../messages/messages.js';
import { JoinType, SplitType, StageExecution } from '../model/stage-execution.js';
import { WorkflowStatus } from '../model/status.js';
import { TaskExecution } from '../model/task-execution.js';
import { Transaction } from '../store/transaction.js';
import { TaskResult } from '../task/task-result.js';
import type { BackendFactory } from './backend.js';
import { type Harness, S, stageOf } from './harness.js';
import { anyOverlap, count, delayedPushes, harnessFor, registerPatternTasks, stepUntil, until, wf, runInBackground } from './suite-patterns-support.js';

const St = WorkflowStatus;

/** Backend-independent scenarios: readiness (§9.2), resets (44), builders (79-80), task results (71). */
export function patternUnitScenarios(): void {
  const up = (status: WorkflowStatus, id: string = status, context?: Record<string, unknown>): UpstreamView => ({ id, refId: id, status, ...(context ? { context } : {}) });
  const join = (joinType: JoinType = JoinType.AND, context: Record<string, unknown> = {}, joinThreshold = 0) => new StageExecution({ refId: 'j', joinType, joinThreshold, context });

  describe('patterns §9.2 readiness', () => {
    it('12-13. AND waits for all; SUCCEEDED and SKIPPED both count as done', () => {
      expect(evaluateReadiness(join(), [up(St.SUCCEEDED, 'a'), up(St.RUNNING, 'b')]).phase).toBe('NOT_READY');
      expect(evaluateReadiness(join(), [up(St.SUCCEEDED, 'a'), up(St.SUCCEEDED, 'b')]).phase).toBe('READY');
      expect(evaluateReadiness(join(), [up(St.SUCCEEDED, 'a'), up(St.SKIPPED, 'b')]).phase).toBe('READY');
    });

    it('14. a halted upstream gives SKIP and is named; halt wins over running', () => {
      for (const halted of [St.TERMINAL, St.CANCELED, St.STOPPED]) {
        const r = evaluateReadiness(join(), [up(halted, 'h'), up(St.SUCCEEDED, 'a')]);
        expect(r.phase).toBe('SKIP');
        expect(r.failedUpstreamIds).toEqual(['h']);
      }
      expect(evaluateReadiness(join(), [up(St.RUNNING, 'r'), up(St.TERMINAL, 't')]).phase).toBe('SKIP');
    });

    it('15. running and not-started upstreams are active', () => {
      const r = evaluateReadiness(join(), [up(St.RUNNING, 'r')]);
      expect(r.phase).toBe('NOT_READY');
      expect(r.activeUpstreamIds).toEqual(['r']);
      expect(evaluateReadiness(join(), [up(St.NOT_STARTED, 'n')]).phase).toBe('NOT_READY');
    });

    it('16-17. OR-join waits only for activated branches; without bookkeeping it is an AND-join', () => {
      expect(evaluateReadiness(join(JoinType.OR, { _activated_branches: ['a'] }), [up(St.SUCCEEDED, 'a'), up(St.NOT_STARTED, 'b')]).phase).toBe('READY');
      expect(evaluateReadiness(join(JoinType.OR), [up(St.SUCCEEDED, 'a'), up(St.RUNNING, 'b')]).phase).toBe('NOT_READY');
      // ours: an OR-join none of whose activated branches is live is a dead path
      expect(evaluateReadiness(join(JoinType.OR, { _activated_branches: [] }), [up(St.SKIPPED, 'b', { _dead_path: true })]).phase).toBe('DEAD');
    });

    it('18-19. discriminator fires on the first completion, once', () => {
      expect(evaluateReadiness(join(JoinType.DISCRIMINATOR), [up(St.SUCCEEDED, 'a'), up(St.RUNNING, 'b')]).phase).toBe('READY');
      const fired = evaluateReadiness(join(JoinType.DISCRIMINATOR, { _join_fired: true }), [up(St.SUCCEEDED, 'a'), up(St.SUCCEEDED, 'b')]);
      expect(fired.phase).toBe('NOT_READY');
      expect(fired.activeUpstreamIds).toEqual([]);
    });

    it('20. N-of-M fires at the threshold, waits below it, skips when it is unreachable', () => {
      expect(evaluateReadiness(join(JoinType.N_OF_M, {}, 2), [up(St.SUCCEEDED, 'a'), up(St.SUCCEEDED, 'b'), up(St.RUNNING, 'c')]).phase).toBe('READY');
      expect(evaluateReadiness(join(JoinType.N_OF_M, {}, 2), [up(St.SUCCEEDED, 'a'), up(St.RUNNING, 'b'), up(St.RUNNING, 'c')]).phase).toBe('NOT_READY');
      expect(evaluateReadiness(join(JoinType.N_OF_M, {}, 3), [up(St.SUCCEEDED, 'a'), up(St.TERMINAL, 'b'), up(St.TERMINAL, 'c')]).phase).toBe('SKIP');
    });

    it('21. multi-merge fires on any completion', () => {
      expect(evaluateReadiness(join(JoinType.MULTI_MERGE), [up(St.SUCCEEDED, 'a'), up(St.RUNNING, 'b')]).phase).toBe('READY');
      expect(evaluateReadiness(join(JoinType.MULTI_MERGE), [up(St.RUNNING, 'a'), up(St.RUNNING, 'b')]).phase).toBe('NOT_READY');
    });

    it('22. a jump bypass and no upstreams are READY; null upstreams are ignored', () => {
      expect(evaluateReadiness(join(), [up(St.RUNNING, 'r')], true).phase).toBe('READY');
      expect(evaluateReadiness(join(), [up(St.TERMINAL, 't')], true).phase).toBe('READY');
      expect(evaluateReadiness(join(), []).phase).toBe('READY');
      expect(evaluateReadiness(join(), [null, up(St.SUCCEEDED, 'a'), undefined]).phase).toBe('READY');
    });

    it('23. N-of-M with threshold 0 follows the AND rules', () => {
      expect(evaluateReadiness(join(JoinType.N_OF_M, {}, 0), [up(St.SUCCEEDED, 'a'), up(St.RUNNING, 'b')]).phase).toBe('NOT_READY');
      expect(evaluateReadiness(join(JoinType.N_OF_M, {}, 0), [up(St.SUCCEEDED, 'a'), up(St.SUCCEEDED, 'b')]).phase).toBe('READY');
    });

    it('ours: dead inputs count as done, but a join whose every input is dead is dead', () => {
      const dead = up(St.SKIPPED, 'd', { _dead_path: true });
      const withdrawn = up(St.CANCELED, 'w', { _withdrawn: { reason: 'x' } });
      const unchosen = up(St.SUCCEEDED, 's', { _unchosen_branches: ['j'] });
      expect(evaluateReadiness(join(), [dead, up(St.SUCCEEDED, 'a')]).phase).toBe('READY');
      expect(evaluateReadiness(join(), [dead, withdrawn, unchosen]).phase).toBe('DEAD');
      expect(evaluateReadiness(join(JoinType.DISCRIMINATOR), [dead, up(St.RUNNING, 'r')]).phase).toBe('NOT_READY');
      expect(evaluateReadiness(join(JoinType.N_OF_M, {}, 2), [dead, withdrawn, up(St.SUCCEEDED, 'a')]).phase).toBe('DEAD');
      // a stageEnabled skip still passes the thread on (parity): it fires a discriminator
      expect(evaluateReadiness(join(JoinType.DISCRIMINATOR), [up(St.SKIPPED, 'b'), up(St.RUNNING, 'c')]).phase).toBe('READY');
    });

    it('ours: threads and firings of the re-firing joins', () => {
      const mm = (count: number, status: WorkflowStatus, final: boolean) => up(status, `mm${count}${status}`, { _fire_count: count, _fire_final: final });
      // multi-merge: one firing per thread
      expect(evaluateReadiness(join(JoinType.MULTI_MERGE, { _fire_count: 1 }), [up(St.SUCCEEDED, 'a'), up(St.SUCCEEDED, 'b')]).phase).toBe('READY');
      const done = evaluateReadiness(join(JoinType.MULTI_MERGE, { _fire_count: 2 }), [up(St.SUCCEEDED, 'a'), up(St.SUCCEEDED, 'b')]);
      expect([done.phase, done.final]).toEqual(['NOT_READY', true]);
      // generalised AND: one firing per complete set
      expect(evaluateReadiness(join(JoinType.GENERALISED_AND, { _fire_count: 1 }), [mm(2, St.SUCCEEDED, true), mm(2, St.RUNNING, false)]).phase).toBe('NOT_READY');
      expect(evaluateReadiness(join(JoinType.GENERALISED_AND, { _fire_count: 1 }), [mm(2, St.SUCCEEDED, true), mm(3, St.RUNNING, false)]).phase).toBe('READY');
      // thread merge: one firing per N threads; a thread split passes `threadCount` threads
      expect(evaluateReadiness(join(JoinType.THREAD_MERGE, {}, 3), [up(St.SUCCEEDED, 't', { threadCount: 3 })]).phase).toBe('READY');
      expect(evaluateReadiness(join(JoinType.THREAD_MERGE, {}, 3), [mm(2, St.RUNNING, false)]).phase).toBe('NOT_READY');
      // blocking discriminator: round 2 waits until round 1 is complete
      expect(evaluateReadiness(join(JoinType.BLOCKING_DISCRIMINATOR, { _fire_count: 1 }), [mm(2, St.SUCCEEDED, false), up(St.RUNNING, 'b')]).phase).toBe('NOT_READY');
      expect(evaluateReadiness(join(JoinType.BLOCKING_DISCRIMINATOR, { _fire_count: 1 }), [mm(2, St.SUCCEEDED, false), up(St.SUCCEEDED, 'b')]).phase).toBe('READY');
    });
  });

  describe('patterns §9.4, §9.9, §9.11 units', () => {
    it('44. a reset clears the join bookkeeping and keeps user context', () => {
      const s = new StageExecution({
        refId: 'd',
        joinType: JoinType.DISCRIMINATOR,
        status: St.SUCCEEDED,
        context: { _join_fired: true, _completed_branches: ['a'], _activated_branches: ['a'], _fire_count: 2, _unchosen_branches: ['x'], user_key: 1 },
      });
      s.resetForRetry();
      expect(s.status).toBe(St.NOT_STARTED);
      expect(s.context).toEqual({ user_key: 1 });
    });

    it('71. TaskResult.suspend', () => {
      expect(TaskResult.suspend().status).toBe(St.SUSPENDED);
      expect(TaskResult.suspend().context).toEqual({});
      expect(TaskResult.suspend({ context: { waiting_for: 'approval' } }).context).toEqual({ waiting_for: 'approval' });
    });

    it('79. ours: MultiInstanceBuilder.fixed makes the instances synthetic children of the stage, which is their join', () => {
      const rev = new StageExecution({ refId: 'rev', type: 'review', name: 'rev', tasks: [TaskExecution.create({ name: 'r', implementingClass: 'ok' })] });
      const instances = MultiInstanceBuilder.fixed(rev, 3);
      expect(instances.map((i) => i.refId)).toEqual(['rev_instance_0', 'rev_instance_1', 'rev_instance_2']);
      for (const [i, inst] of instances.entries()) {
        expect(inst.parentStageId).toBe(rev.id);
        expect(inst.type).toBe('review');
        expect(inst.name).toBe(`rev [instance ${i}]`);
        expect(inst.context).toEqual({ _mi_parent_ref_id: 'rev', _mi_instance_index: i });
        expect(inst.tasks.map((t) => t.implementingClass)).toEqual(['ok']);
      }
      expect(rev.miConfig).toEqual({ count: 3 });
      expect(() => wf([rev, ...instances])).not.toThrow();
    });

    it('80. ours: the builder merges miConfig instead of overwriting it', () => {
      const s = () => new StageExecution({ refId: 'rev' });
      const a = s();
      MultiInstanceBuilder.fixed(a, 3, { joinThreshold: 2, cancelRemaining: true });
      expect(a.miConfig).toEqual({ count: 3, joinThreshold: 2, cancelRemaining: true });
      const b = s();
      expect(MultiInstanceBuilder.fixed(b, 2, { syncOnComplete: false })).toHaveLength(2);
      expect(b.miConfig?.syncOnComplete).toBe(false);
      const c = MultiInstanceBuilder.fromContext(s(), 'n', { joinThreshold: 1 });
      expect(c.miConfig).toEqual({ countFromContext: 'n', joinThreshold: 1 });
      const d = MultiInstanceBuilder.fromCollection(s(), 'items', { itemContextKey: 'cur' });
      expect(d.miConfig).toEqual({ collectionFromContext: 'items', itemContextKey: 'cur' });
      const e = MultiInstanceBuilder.dynamic(s(), { initialCount: 2 });
      expect(e.miConfig).toEqual({ count: 2, allowDynamic: true });
    });

    it('88. requisite cycles are rejected before anything is stored', () => {
      expect(() => wf([S('a', [], ['b']), S('b', [], ['a'])])).toThrow(CircularDependencyError);
      expect(() => wf([S('a', [], ['c']), S('b', [], ['a']), S('c', [], ['b'])])).toThrow(CircularDependencyError);
    });

    it('95. output reducers: collect and sum, an unknown name fails, a custom one wins', () => {
      const outputs = [
        { candidate: 'a', score: 3 },
        { candidate: 'b', score: 5 },
        { candidate: 'c', score: 2 },
      ];
      expect(getOutputReducer('collect')(outputs.map((o) => o.candidate))).toEqual(['a', 'b', 'c']);
      expect(getOutputReducer('sum')(outputs.map((o) => o.score))).toBe(10);
      expect(() => getOutputReducer('no_such_reducer')).toThrow(/Unknown output reducer/);
      registerOutputReducer('joinstr', (values) => values.join(','));
      expect(getOutputReducer('joinstr')(['x', 'y'])).toBe('x,y');
    });

    it('84. pattern fields default to AND / null and are validated at definition time (D10)', () => {
      const s = new StageExecution({ refId: 'x' });
      expect([s.joinType, s.splitType, s.joinThreshold, s.splitConditions]).toEqual([JoinType.AND, SplitType.AND, 0, {}]);
      expect([s.miConfig, s.deferredChoiceGroup, s.milestoneRefId, s.milestoneStatus, s.mutexKey, s.cancelRegion]).toEqual([null, null, null, null, null, null]);
      // 42 / 55 (ours): an unreachable threshold and a status name that does not exist are rejected
      expect(() => wf([S('a', []), S('b', []), S('j', [], ['a', 'b'], {}, { joinType: JoinType.N_OF_M, joinThreshold: 3 })])).toThrow(ValidationError);
      expect(() => wf([S('t', []), S('rc', [], ['t'], {}, { milestoneRefId: 't', milestoneStatus: 'running' as WorkflowStatus })])).toThrow(/milestoneStatus/);
      expect(() => wf([S('a', [], [], {}, { joinType: 'SOMETIMES' as JoinType })])).toThrow(/joinType/);
      expect(() => wf([S('a', [], [], { threadCount: 0 })])).toThrow(/threadCount/);
    });
  });
}

/** End-to-end scenarios of patterns.md §9.3-9.12 on a backend. */
export function patternScenarios(factory: BackendFactory): void {
  const withHarness = harnessFor(factory);
  const cond = (conditions: Record<string, string>, splitType: SplitType = SplitType.OR) => ({ splitType, splitConditions: conditions });

  describe('patterns §9.3 splits and OR-joins', () => {
    it(
      '24. OR-split activates the matching branch only',
      withHarness(async (h) => {
        const r = await h.run(
          wf([
            S('root', ['emit'], [], { emit: { emergency_type: 'fire' } }, cond({ police: "emergency_type == 'crime'", ambulance: "emergency_type == 'medical'", fire_engine: "emergency_type == 'fire'" })),
            S('police', ['emit'], ['root']),
            S('ambulance', ['emit'], ['root']),
            S('fire_engine', ['emit'], ['root']),
          ]),
        );
        expect(stageOf(r, 'fire_engine').status).toBe(St.SUCCEEDED);
        expect([stageOf(r, 'police').status, stageOf(r, 'ambulance').status]).toEqual([St.SKIPPED, St.SKIPPED]);
        expect(r.status).toBe(St.SUCCEEDED);
      }),
    );

    it(
      '25. OR-split activates several branches',
      withHarness(async (h) => {
        const r = await h.run(wf([S('root', ['emit'], [], { emit: { severity: 5 } }, cond({ a: 'severity > 3', b: 'severity > 10', c: 'severity > 1' })), S('a', ['emit'], ['root']), S('b', ['emit'], ['root']), S('c', ['emit'], ['root'])]));
        expect(['a', 'b', 'c'].map((ref) => stageOf(r, ref).status)).toEqual([St.SUCCEEDED, St.SKIPPED, St.SUCCEEDED]);
        expect(r.status).toBe(St.SUCCEEDED);
      }),
    );

    it(
      '26. OR-join waits only for the activated branch',
      withHarness(async (h) => {
        const r = await h.run(
          wf([
            S('root', ['emit'], [], { emit: { dispatch: 'fire' } }, cond({ a: "dispatch == 'fire'", b: "dispatch == 'police'" })),
            S('a', ['emit'], ['root']),
            S('b', ['emit'], ['root']),
            S('join', ['emit'], ['a', 'b'], {}, { joinType: JoinType.OR }),
          ]),
        );
        expect(stageOf(r, 'b').status).toBe(St.SKIPPED);
        expect(stageOf(r, 'join').status).toBe(St.SUCCEEDED);
        expect(stageOf(r, 'join').context._activated_branches).toEqual(['a']);
        expect(r.status).toBe(St.SUCCEEDED);
      }),
    );

    it(
      '27. OR-split and OR-join end to end',
      withHarness(async (h) => {
        const r = await h.run(
          wf([
            S('dispatch', ['emit'], [], {}, cond({ fire: 'True', police: 'False', ambulance: 'True' })),
            S('fire', ['emit'], ['dispatch']),
            S('police', ['emit'], ['dispatch']),
            S('ambulance', ['emit'], ['dispatch']),
            S('patient_transfer', ['emit'], ['fire', 'police', 'ambulance'], {}, { joinType: JoinType.OR }),
          ]),
        );
        expect(['fire', 'police', 'ambulance', 'patient_transfer'].map((ref) => stageOf(r, ref).status)).toEqual([St.SUCCEEDED, St.SKIPPED, St.SUCCEEDED, St.SUCCEEDED]);
        expect(count(h, 'patient_transfer')).toBe(1);
        expect(r.status).toBe(St.SUCCEEDED);
      }),
    );

    it(
      '28. when no condition holds the first downstream runs',
      withHarness(async (h) => {
        const r = await h.run(wf([S('root', ['emit'], [], { emit: { x: 1 } }, cond({ a: 'x == 5', b: 'x == 6', c: 'x == 7' })), S('a', ['emit'], ['root']), S('b', ['emit'], ['root']), S('c', ['emit'], ['root'])]));
        expect(['a', 'b', 'c'].map((ref) => stageOf(r, ref).status)).toEqual([St.SUCCEEDED, St.SKIPPED, St.SKIPPED]);
      }),
    );

    it(
      '29. an invalid condition skips its branch; a branch without condition runs',
      withHarness(async (h) => {
        const r = await h.run(wf([S('root', ['emit'], [], { emit: { x: 1 } }, cond({ a: 'x ==', b: 'x == 1' })), S('a', ['emit'], ['root']), S('b', ['emit'], ['root']), S('c', ['emit'], ['root'])]));
        expect(['a', 'b', 'c'].map((ref) => stageOf(r, ref).status)).toEqual([St.SKIPPED, St.SUCCEEDED, St.SUCCEEDED]);
      }),
    );

    it(
      '30. split conditions see the outputs over the context',
      withHarness(async (h) => {
        const r = await h.run(wf([S('root', ['emit'], [], { x: 1, emit: { x: 2 } }, cond({ a: 'x == 1', b: 'x == 2' })), S('a', ['emit'], ['root']), S('b', ['emit'], ['root'])]));
        expect([stageOf(r, 'a').status, stageOf(r, 'b').status]).toEqual([St.SKIPPED, St.SUCCEEDED]);
      }),
    );

    it(
      '31. ours: dead-path elimination cascades down the unchosen branch (upstream runs b2)',
      withHarness(async (h) => {
        const r = await h.run(
          wf([
            S('root', ['emit'], [], { emit: { x: 1 } }, cond({ a: 'x == 1', b: 'x == 2' })),
            S('a', ['emit'], ['root']),
            S('a2', ['emit'], ['a']),
            S('b', ['emit'], ['root']),
            S('b2', ['emit'], ['b']),
            S('j', ['emit'], ['a2', 'b2'], {}, { joinType: JoinType.OR }),
          ]),
        );
        expect(['a', 'a2', 'b', 'b2', 'j'].map((ref) => stageOf(r, ref).status)).toEqual([St.SUCCEEDED, St.SUCCEEDED, St.SKIPPED, St.SKIPPED, St.SUCCEEDED]);
        expect(stageOf(r, 'b2').context._dead_path).toBe(true);
        expect(count(h, 'b2')).toBe(0);
        expect(stageOf(r, 'j').context._activated_branches).toEqual(['a2']);
        expect(r.status).toBe(St.SUCCEEDED);
      }),
    );

    it(
      '32. a skipped split stage starts every branch without looking at its conditions',
      withHarness(async (h) => {
        const r = await h.run(wf([S('pre', ['emit']), S('root', ['emit'], ['pre'], { stageEnabled: false }, cond({ a: 'False', b: 'False' })), S('a', ['emit'], ['root']), S('b', ['emit'], ['root'])]));
        expect(['root', 'a', 'b'].map((ref) => stageOf(r, ref).status)).toEqual([St.SKIPPED, St.SUCCEEDED, St.SUCCEEDED]);
      }),
    );

    it(
      '33. ours: the OR-join records its live branches and still waits for an upstream outside the split',
      withHarness(
        async (h) => {
          registerPatternTasks(h);
          const r = await h.run(
            wf([
              S('root', ['emit'], [], { emit: { x: 1 } }, cond({ a: 'x == 1', b: 'x == 2' })),
              S('a', ['emit'], ['root']),
              S('b', ['emit'], ['root']),
              S('other', ['track'], [], { delayMs: 200 }),
              S('j', ['echo'], ['a', 'b', 'other'], {}, { joinType: JoinType.OR }),
            ]),
          );
          expect(stageOf(r, 'j').status).toBe(St.SUCCEEDED);
          expect(stageOf(r, 'j').context._activated_branches).toEqual(['a', 'other']);
          expect(h.executions.indexOf('j')).toBeGreaterThan(h.executions.indexOf('other'));
          expect(h.echoed.has('j')).toBe(true);
          expect(r.status).toBe(St.SUCCEEDED);
        },
        { maxWorkers: 4 },
      ),
    );

    it(
      '34. a failing split condition skips; a failing stageEnabled expression runs',
      withHarness(async (h) => {
        const r = await h.run(
          wf([
            S('root', ['emit'], [], {}, cond({ a: 'sev > 0', b: 'True' })),
            S('a', ['emit'], ['root']),
            S('b', ['emit'], ['root']),
            S('c', ['emit'], ['root'], { stageEnabled: { type: 'expression', expression: 'sev > 0' } }),
          ]),
        );
        expect(['a', 'b', 'c'].map((ref) => stageOf(r, ref).status)).toEqual([St.SKIPPED, St.SUCCEEDED, St.SUCCEEDED]);
      }),
    );
  });

  describe('patterns §9.4 discriminator, N-of-M, multi-merge', () => {
    it(
      '35. the discriminator fires once on the first completion; the other branch still completes',
      withHarness(
        async (h) => {
          const r = await h.run(wf([S('root', ['emit']), S('fast', ['emit'], ['root']), S('slow', ['emit'], ['root'], { delayMs: 300 }), S('triage', ['counter'], ['fast', 'slow'], {}, { joinType: JoinType.DISCRIMINATOR })]));
          expect(stageOf(r, 'triage').status).toBe(St.SUCCEEDED);
          expect(count(h, 'triage')).toBe(1);
          expect(stageOf(r, 'slow').status).toBe(St.SUCCEEDED);
          expect(stageOf(r, 'triage').context._join_fired).toBe(true);
          expect([...(stageOf(r, 'triage').context._completed_branches as string[])].sort()).toEqual(['fast', 'slow']);
          expect(r.status).toBe(St.SUCCEEDED);
        },
        { maxWorkers: 4 },
      ),
    );

    it(
      'a branch still running when the discriminator completed ends the workflow when it finishes',
      withHarness(
        async (h) => {
          let slowDone = false;
          let joinSawSlowDone: boolean | undefined;
          h.registry.register('slowTask', async () => {
            await new Promise((res) => setTimeout(res, 300));
            slowDone = true;
            return TaskResult.success();
          });
          h.registry.register('seeSlow', () => {
            joinSawSlowDone = slowDone;
            return TaskResult.success();
          });
          // `slow` is running while `fast` fires the join and the join completes: when `slow` ends,
          // its join is already done, so it must ask for the workflow's end itself (P9).
          const w = wf([S('root', ['emit']), S('fast', ['emit'], ['root']), S('slow', ['slowTask'], ['root']), S('j', ['seeSlow'], ['fast', 'slow'], {}, { joinType: JoinType.DISCRIMINATOR })]);
          await h.orchestrator.start(w);
          await runInBackground(h, w.id);
          const r = await h.store.retrieve(w.id);
          expect([stageOf(r, 'j').status, stageOf(r, 'slow').status, r.status]).toEqual([St.SUCCEEDED, St.SUCCEEDED, St.SUCCEEDED]);
          expect(joinSawSlowDone).toBe(false);
        },
        { maxWorkers: 4 },
      ),
    );

    it(
      '36. every branch failing leaves the discriminator unstarted and the workflow TERMINAL',
      withHarness(async (h) => {
        const r = await h.run(wf([S('root', ['emit']), S('a', ['fail'], ['root']), S('b', ['fail'], ['root']), S('tri', ['emit'], ['a', 'b'], {}, { joinType: JoinType.DISCRIMINATOR })]));
        expect(r.status).toBe(St.TERMINAL);
        expect(stageOf(r, 'tri').status).toBe(St.NOT_STARTED);
      }),
    );

    it(
      '37. a stageEnabled skip fires the discriminator before the slow branch ends',
      withHarness(
        async (h) => {
          let cFinished = false;
          let jSawCFinished: boolean | undefined;
          h.registry.register('slowC', async () => {
            await new Promise((res) => setTimeout(res, 300));
            cFinished = true;
            return TaskResult.success();
          });
          h.registry.register('seeC', () => {
            jSawCFinished = cFinished;
            return TaskResult.success();
          });
          const r = await h.run(wf([S('a', ['emit']), S('b', ['emit'], ['a'], { stageEnabled: false }), S('c', ['slowC'], ['a']), S('j', ['seeC'], ['b', 'c'], {}, { joinType: JoinType.DISCRIMINATOR })]));
          expect(stageOf(r, 'j').status).toBe(St.SUCCEEDED);
          expect(jSawCFinished).toBe(false);
          expect(stageOf(r, 'j').context._completed_branches).toEqual(['c']);
          expect(r.status).toBe(St.SUCCEEDED);
        },
        { maxWorkers: 4 },
      ),
    );

    it(
      '38-39. N-of-M fires at the threshold and the flow continues after it',
      withHarness(
        async (h) => {
          const r = await h.run(
            wf([
              S('prepare', ['emit']),
              S('r1', ['emit'], ['prepare']),
              S('r2', ['emit'], ['prepare']),
              S('r3', ['emit'], ['prepare'], { delayMs: 300 }),
              S('decision', ['emit'], ['r1', 'r2', 'r3'], {}, { joinType: JoinType.N_OF_M, joinThreshold: 2 }),
              S('publish', ['emit'], ['decision']),
            ]),
          );
          expect([stageOf(r, 'decision').status, stageOf(r, 'publish').status, r.status]).toEqual([St.SUCCEEDED, St.SUCCEEDED, St.SUCCEEDED]);
          expect(count(h, 'decision')).toBe(1);
        },
        { maxWorkers: 4 },
      ),
    );

    it(
      '40. a FAILED_CONTINUE branch counts towards N',
      withHarness(
        async (h) => {
          const r = await h.run(wf([S('root', ['emit']), S('a', ['emit'], ['root']), S('b', ['emit'], ['root'], { delayMs: 300 }), S('c', ['fc'], ['root']), S('j', ['emit'], ['a', 'b', 'c'], {}, { joinType: JoinType.N_OF_M, joinThreshold: 2 })]));
          expect([stageOf(r, 'j').status, stageOf(r, 'c').status, r.status]).toEqual([St.SUCCEEDED, St.FAILED_CONTINUE, St.SUCCEEDED]);
        },
        { maxWorkers: 4 },
      ),
    );

    it(
      '41. a hard failure of a branch ends the workflow TERMINAL',
      withHarness(async (h) => {
        const r = await h.run(wf([S('root', ['emit']), S('a', ['emit'], ['root']), S('b', ['emit'], ['root']), S('c', ['fail'], ['root']), S('j', ['emit'], ['a', 'b', 'c'], {}, { joinType: JoinType.N_OF_M, joinThreshold: 2 })]));
        expect(r.status).toBe(St.TERMINAL);
      }),
    );

    it(
      '43. ours: MULTI_MERGE fires once per incoming branch (upstream: once)',
      withHarness(
        async (h) => {
          registerPatternTasks(h);
          const r = await h.run(wf([S('a', ['track']), S('b', ['track'], [], { delayMs: 200 }), S('mm', ['track'], ['a', 'b'], {}, { joinType: JoinType.MULTI_MERGE })]));
          expect(count(h, 'mm')).toBe(2);
          expect(['a', 'b', 'mm'].map((ref) => stageOf(r, ref).status)).toEqual([St.SUCCEEDED, St.SUCCEEDED, St.SUCCEEDED]);
          expect(stageOf(r, 'mm').context._fire_count).toBe(2);
          expect(r.status).toBe(St.SUCCEEDED);
        },
        { maxWorkers: 4 },
      ),
    );
  });

  describe('patterns §9.5 deferred choice', () => {
    it(
      '45. one member wins, the other is withdrawn; ours: the workflow SUCCEEDS',
      withHarness(
        async (h) => {
          const g = { deferredChoiceGroup: 'handle_complaint' };
          const r = await h.run(wf([S('root', ['emit']), S('agent_contact', ['emit'], ['root'], {}, g), S('escalate', ['emit'], ['root'], { delayMs: 300 }, g)]));
          const statuses = [stageOf(r, 'agent_contact').status, stageOf(r, 'escalate').status].sort();
          expect(statuses).toEqual([St.CANCELED, St.SUCCEEDED]);
          const loser = r.stages.find((s) => s.status === St.CANCELED)!;
          expect(loser.context._withdrawn).toEqual({ reason: 'deferredChoice:handle_complaint' });
          expect(h.executions.filter((ref) => ref === loser.refId)).toEqual([]);
          expect(r.status).toBe(St.SUCCEEDED);
        },
        { maxWorkers: 4 },
      ),
    );

    it(
      '46-47. racing members cannot both win, and the choice never transfers',
      withHarness(async (h) => {
        const g = { deferredChoiceGroup: 'response' };
        const w = wf([S('a', ['emit'], [], {}, g), S('b', ['emit'], [], {}, g)]);
        await h.store.commit(new Transaction().insertWorkflow(w));
        await h.store.commit(new Transaction().updateWorkflow(w, { status: St.RUNNING }));
        const [a, b] = w.stages;
        await handleStartStage(h.processor.deps, { message: Messages.startStage(w.id, a!.id) });
        await handleStartStage(h.processor.deps, { message: Messages.startStage(w.id, b!.id) });
        let stages = (await h.store.retrieve(w.id)).stages;
        expect(stages.filter((s) => s.status === St.RUNNING).map((s) => s.refId)).toEqual(['a']);
        expect(stageOf(await h.store.retrieve(w.id), 'b').status).not.toBe(St.RUNNING);
        // a finishes; a late StartStage for b still loses (the claim is never transferred)
        const aDone = await h.store.retrieveStage(a!.id);
        aDone.status = St.SUCCEEDED;
        await h.store.commit(new Transaction().updateStage(aDone));
        await handleStartStage(h.processor.deps, { message: Messages.startStage(w.id, b!.id) });
        await h.drain();
        stages = (await h.store.retrieve(w.id)).stages;
        expect(stages.find((s) => s.refId === 'b')!.status).toBe(St.CANCELED);
      }),
    );

    it(
      '48. ours: a join after the choice runs (AND and DISCRIMINATOR); the workflow SUCCEEDS',
      withHarness(async (h) => {
        for (const joinType of [JoinType.AND, JoinType.DISCRIMINATOR]) {
          const g = { deferredChoiceGroup: 'g' };
          const r = await h.run(wf([S('root', ['emit']), S('a', ['emit'], ['root'], {}, g), S('b', ['emit'], ['root'], {}, g), S('after', ['emit'], ['a', 'b'], {}, { joinType })]));
          expect(stageOf(r, 'after').status).toBe(St.SUCCEEDED);
          expect(r.status).toBe(St.SUCCEEDED);
        }
      }),
    );

    it(
      '49. ours: a member disabled by stageEnabled does not take the choice',
      withHarness(async (h) => {
        const g = { deferredChoiceGroup: 'g' };
        const r = await h.run(wf([S('root', ['emit']), S('a', ['emit'], ['root'], { stageEnabled: false }, g), S('x', ['emit'], ['root']), S('b', ['emit'], ['x'], {}, g)]));
        expect([stageOf(r, 'b').status, r.status]).toEqual([St.SUCCEEDED, St.SUCCEEDED]);
        // `a` never runs: it is skipped, or, when `b` claims the choice before `a`'s skip lands, withdrawn
        // as the loser (both orders happen with concurrent handlers).
        const a = stageOf(r, 'a');
        if (a.status === St.CANCELED) expect(a.context._withdrawn).toEqual({ reason: 'deferredChoice:g' });
        else expect(a.status).toBe(St.SKIPPED);
        expect(a.tasks[0]!.status).not.toBe(St.SUCCEEDED);
      }),
    );

    it(
      '50. ours: withdrawing the loser does not cut an unrelated branch',
      withHarness(
        async (h) => {
          const g = { deferredChoiceGroup: 'g' };
          const r = await h.run(wf([S('root', ['emit']), S('a', ['emit'], ['root'], {}, g), S('b', ['emit'], ['root'], {}, g), S('long', ['emit'], ['root'], { delayMs: 300 }), S('long2', ['emit'], ['long'])]));
          expect([stageOf(r, 'long2').status, r.status]).toEqual([St.SUCCEEDED, St.SUCCEEDED]);
        },
        { maxWorkers: 4 },
      ),
    );
  });

  describe('patterns §9.6 milestone', () => {
    it(
      '51. a stage gated on a NOT_STARTED milestone lets the workflow succeed',
      withHarness(async (h) => {
        const r = await h.run(wf([S('start', ['emit']), S('ticket', ['emit'], ['start']), S('route_change', ['emit'], ['start'], {}, { milestoneRefId: 'ticket', milestoneStatus: St.NOT_STARTED })]));
        expect(r.status).toBe(St.SUCCEEDED);
      }),
    );

    it(
      '52. a milestone that has passed skips the gated stage',
      withHarness(async (h) => {
        const r = await h.run(wf([S('ticket', ['emit']), S('x', ['emit'], ['ticket']), S('rc', ['emit'], ['x'], {}, { milestoneRefId: 'ticket', milestoneStatus: St.RUNNING })]));
        expect([stageOf(r, 'rc').status, r.status]).toEqual([St.SKIPPED, St.SUCCEEDED]);
      }),
    );

    it(
      '53. a missing milestone stage skips the gated stage',
      withHarness(async (h) => {
        const r = await h.run(wf([S('a', ['emit']), S('rc', ['emit'], ['a'], {}, { milestoneRefId: 'nope', milestoneStatus: St.RUNNING })]));
        expect(stageOf(r, 'rc').status).toBe(St.SKIPPED);
      }),
    );

    it(
      '54. ours: the gated stage waits for its milestone (upstream runs it at once)',
      withHarness(
        async (h) => {
          registerPatternTasks(h);
          const delayed = delayedPushes(h);
          const r = await h.run(wf([S('a', ['track'], [], { delayMs: 150 }), S('ticket', ['track'], ['a']), S('rc', ['track'], [], {}, { milestoneRefId: 'ticket', milestoneStatus: St.SUCCEEDED })]));
          expect(stageOf(r, 'rc').status).toBe(St.SUCCEEDED);
          expect(h.executions.indexOf('rc')).toBeGreaterThan(h.executions.indexOf('ticket'));
          expect(stageOf(r, 'ticket').context._milestone_watchers).toEqual([stageOf(r, 'rc').id]);
          expect(delayed).toEqual([]); // woken by the milestone's change, never by a timer
          expect(r.status).toBe(St.SUCCEEDED);
        },
        { maxWorkers: 4 },
      ),
    );
  });

  describe('patterns §9.7 mutex', () => {
    it(
      '56. mutex stages never overlap and both run once',
      withHarness(
        async (h) => {
          const log = registerPatternTasks(h);
          const delayed = delayedPushes(h);
          const m = { mutexKey: 'shared_db' };
          const r = await h.run(wf([S('root', ['emit']), S('db_op_1', ['track'], ['root'], { delayMs: 100 }, m), S('db_op_2', ['track'], ['root'], { delayMs: 100 }, m), S('done', ['emit'], ['db_op_1', 'db_op_2'])]));
          expect(r.stages.every((s) => s.status === St.SUCCEEDED)).toBe(true);
          expect(log.intervals.map((i) => i.ref).sort()).toEqual(['db_op_1', 'db_op_2']);
          expect(anyOverlap(log.intervals)).toBe(false);
          expect(delayed).toEqual([]); // the waiter was woken by the release, not by a timer
        },
        { maxWorkers: 4 },
      ),
    );

    it(
      '57-58. racing starts leave exactly one holder; the mutex passes on when the holder ends',
      withHarness(async (h) => {
        const m = { mutexKey: 'race' };
        const w = wf([S('a', ['emit'], [], {}, m), S('b', ['emit'], [], {}, m)]);
        await h.store.commit(new Transaction().insertWorkflow(w));
        await h.store.commit(new Transaction().updateWorkflow(w, { status: St.RUNNING }));
        const [a, b] = w.stages;
        await handleStartStage(h.processor.deps, { message: Messages.startStage(w.id, a!.id) });
        await handleStartStage(h.processor.deps, { message: Messages.startStage(w.id, b!.id) });
        expect((await h.store.retrieve(w.id)).stages.filter((s) => s.status === St.RUNNING).map((s) => s.refId)).toEqual(['a']);
        const owner = await h.store.retrieveStage(a!.id);
        owner.status = St.SUCCEEDED;
        await h.store.commit(new Transaction().updateStage(owner));
        await handleStartStage(h.processor.deps, { message: Messages.startStage(w.id, b!.id) });
        expect((await h.store.retrieveStage(b!.id)).status).toBe(St.RUNNING);
      }),
    );

    it(
      '59. ours: a waiter behind a suspended holder waits without polling, then runs when it releases',
      withHarness(async (h) => {
        registerPatternTasks(h);
        const m = { mutexKey: 'db' };
        // Both members suspend, so whichever takes the mutex first holds it while the other waits.
        const w = wf([S('root', ['emit']), S('m1', ['susp'], ['root'], {}, m), S('m2', ['susp'], ['root'], {}, m)]);
        let r = await h.run(w);
        const [holder, waiter] = stageOf(r, 'm1').status === St.SUSPENDED ? ['m1', 'm2'] : ['m2', 'm1'];
        expect([stageOf(r, holder).status, stageOf(r, waiter).status, r.status]).toEqual([St.SUSPENDED, St.NOT_STARTED, St.RUNNING]);
        expect(await h.queue.size()).toBe(0); // nothing polls
        await h.orchestrator.signal(w, stageOf(r, holder).id, 'go', { ok: true });
        await h.drain();
        r = await h.store.retrieve(w.id);
        expect([stageOf(r, holder).status, stageOf(r, waiter).status, r.status]).toEqual([St.SUCCEEDED, St.SUSPENDED, St.RUNNING]);
        await h.orchestrator.signal(w, stageOf(r, waiter).id, 'go', { ok: true });
        await h.drain();
        r = await h.store.retrieve(w.id);
        expect([stageOf(r, 'm1').status, stageOf(r, 'm2').status, r.status]).toEqual([St.SUCCEEDED, St.SUCCEEDED, St.SUCCEEDED]);
      }),
    );

    it(
      '60. a failing holder ends the workflow TERMINAL; the waiter never runs',
      withHarness(async (h) => {
        const m = { mutexKey: 'db' };
        // Both members fail, so whichever takes the mutex first is the failing holder.
        const r = await h.run(wf([S('root', ['emit']), S('m1', ['fail'], ['root'], {}, m), S('m2', ['fail'], ['root'], {}, m)]));
        const [holder, waiter] = stageOf(r, 'm1').status === St.TERMINAL ? ['m1', 'm2'] : ['m2', 'm1'];
        expect([r.status, stageOf(r, holder).status]).toEqual([St.TERMINAL, St.TERMINAL]);
        expect([St.NOT_STARTED, St.CANCELED]).toContain(stageOf(r, waiter).status);
        expect(h.executions).toEqual(['root', holder]);
      }),
    );
  });

  describe('patterns §9.8 cancellation', () => {
    it(
      '61. ours: CancelRegion withdraws the region; the rest runs on and the workflow SUCCEEDS',
      withHarness(
        async (h) => {
          registerPatternTasks(h);
          const region = { cancelRegion: 'evidence_access' };
          const w = wf([S('root', ['emit']), S('evidence_1', ['sleepy'], ['root'], { sleepMs: 10_000 }, region), S('evidence_2', ['sleepy'], ['root'], { sleepMs: 10_000 }, region), S('unrelated', ['emit'], ['root'])]);
          await h.orchestrator.start(w);
          h.processor.start();
          await until(async () => (await h.store.retrieve(w.id)).stages.filter((s) => s.cancelRegion && s.status === St.RUNNING).length === 2);
          await h.orchestrator.send(Messages.cancelRegion(w.id, 'evidence_access'));
          await until(async () => (await h.store.retrieveWorkflowOnly(w.id)).status !== St.RUNNING);
          await h.processor.stop();
          const r = await h.store.retrieve(w.id);
          for (const ref of ['evidence_1', 'evidence_2']) {
            expect(stageOf(r, ref).status).toBe(St.CANCELED);
            expect(stageOf(r, ref).context._withdrawn).toEqual({ reason: 'cancelRegion:evidence_access' });
          }
          expect(stageOf(r, 'unrelated').status).toBe(St.SUCCEEDED);
          expect(r.status).toBe(St.SUCCEEDED);
        },
        { maxWorkers: 4 },
      ),
    );

    it(
      '62. ours: a stage that only depended on the region is skipped as a dead path',
      withHarness(async (h) => {
        registerPatternTasks(h);
        const region = { cancelRegion: 'ev' };
        const w = wf([S('root', ['susp']), S('e1', ['emit'], ['root'], {}, region), S('e2', ['emit'], ['root'], {}, region), S('u', ['emit'], ['root']), S('after', ['emit'], ['e1'])]);
        await h.run(w); // root has started and waits
        await h.orchestrator.send(Messages.cancelRegion(w.id, 'ev'));
        await h.drain();
        await h.orchestrator.signal(w, w.stages[0]!.id, 'go', {});
        await h.drain();
        const r = await h.store.retrieve(w.id);
        expect(['e1', 'e2', 'u', 'after'].map((ref) => stageOf(r, ref).status)).toEqual([St.CANCELED, St.CANCELED, St.SUCCEEDED, St.SKIPPED]);
        expect(stageOf(r, 'after').context._dead_path).toBe(true);
        expect(r.status).toBe(St.SUCCEEDED);
      }),
    );

    it(
      '63. ours: canceling the only running stage ends the workflow (no hang); withdrawing it lets it finish',
      withHarness(async (h) => {
        for (const withdraw of [false, true]) {
          const w = wf([S('a', ['poll'], [], { pollTimes: 1000 }), S('b', ['emit'], ['a'])]);
          await h.orchestrator.start(w);
          await stepUntil(h, async () => (await h.store.retrieveStage(w.stages[0]!.id)).status === St.RUNNING);
          await h.orchestrator.send(Messages.cancelStage(w.id, w.stages[0]!.id, { withdraw }));
          await h.drain();
          const r = await h.store.retrieve(w.id);
          expect(stageOf(r, 'a').status).toBe(St.CANCELED);
          expect(await h.queue.size()).toBe(0);
          if (withdraw) expect([stageOf(r, 'b').status, r.status]).toEqual([St.SKIPPED, St.SUCCEEDED]);
          else expect([stageOf(r, 'b').status, r.status]).toEqual([St.NOT_STARTED, St.CANCELED]);
        }
      }),
    );
  });

  describe('patterns §9.9 triggers', () => {
    it(
      '67. a transient signal resumes a suspended stage',
      withHarness(async (h) => {
        registerPatternTasks(h);
        const w = wf([S('root', ['emit']), S('handler', ['susp'], ['root'])]);
        await h.orchestrator.start(w);
        await stepUntil(h, async () => (await h.store.retrieveStage(w.stages[1]!.id)).status === St.SUSPENDED);
        await h.orchestrator.signal(w, w.stages[1]!.id, 'dam_capacity_full', { level: 95.5 });
        await h.drain();
        const r = await h.store.retrieve(w.id);
        expect([stageOf(r, 'handler').status, r.status]).toEqual([St.SUCCEEDED, St.SUCCEEDED]);
        expect(stageOf(r, 'handler').outputs).toEqual({ signal_received: { level: 95.5 } });
      }),
    );

    it(
      '68. a persistent signal sent early is kept until the stage suspends',
      withHarness(async (h) => {
        registerPatternTasks(h);
        const w = wf([S('root', ['emit']), S('handler', ['susp'], ['root'])]);
        await h.orchestrator.start(w);
        for (let i = 0; i < 2; i++) await h.processor.processOne();
        await h.orchestrator.signal(w, w.stages[1]!.id, 'new_staff_member', { name: 'Alice' }, { persistent: true });
        await h.drain();
        const r = await h.store.retrieve(w.id);
        expect([stageOf(r, 'handler').status, r.status]).toEqual([St.SUCCEEDED, St.SUCCEEDED]);
      }),
    );

    it(
      '69. a transient signal sent before the stage suspends is lost; the next one is delivered',
      withHarness(async (h) => {
        registerPatternTasks(h);
        const w = wf([S('root', ['emit']), S('x', ['emit'], ['root']), S('h', ['susp'], ['x'])]);
        await h.orchestrator.start(w);
        await h.orchestrator.signal(w, w.stages[2]!.id, 'early', { v: 1 });
        let r = await h.run(w);
        expect([stageOf(r, 'h').status, r.status]).toEqual([St.SUSPENDED, St.RUNNING]);
        await h.orchestrator.signal(w, w.stages[2]!.id, 'late', { v: 2 });
        await h.drain();
        r = await h.store.retrieve(w.id);
        expect(stageOf(r, 'h').status).toBe(St.SUCCEEDED);
        expect(stageOf(r, 'h').outputs.signal_received).toEqual({ v: 2 });
      }),
    );

    it(
      '70. persistent signals are consumed one per suspension (FIFO); ours: a finished stage drops new ones',
      withHarness(async (h) => {
        registerPatternTasks(h);
        const w = wf([S('h', ['susp'])]);
        await h.store.store(w);
        await h.orchestrator.signal(w, w.stages[0]!.id, 'first', { n: 1 }, { persistent: true });
        await h.orchestrator.signal(w, w.stages[0]!.id, 'second', { n: 2 }, { persistent: true });
        let r = await h.run(w);
        expect(stageOf(r, 'h').status).toBe(St.SUCCEEDED);
        expect(stageOf(r, 'h').outputs.signal_received).toEqual({ n: 1 });
        expect(stageOf(r, 'h').context._buffered_signals).toEqual([{ signal_name: 'second', signal_data: { n: 2 } }]);
        await h.orchestrator.signal(w, w.stages[0]!.id, 'late', { n: 3 }, { persistent: true });
        await h.drain();
        r = await h.store.retrieve(w.id);
        expect(stageOf(r, 'h').context._buffered_signals).toEqual([{ signal_name: 'second', signal_data: { n: 2 } }]);
      }),
    );

    it(
      '72. an approval gate: approve succeeds with the approval, reject fails',
      withHarness(async (h) => {
        h.registry.register('approval', (stage) => {
          const name = stage.context._signal_name;
          const data = stage.context._signal_data;
          if (name === 'approve') return TaskResult.success({ outputs: { approved: true, approval: data } });
          if (name === 'reject') return stage.context.approval_reject_continues ? TaskResult.failedContinue('Approval rejected') : TaskResult.terminal('Approval rejected', { context: { approved: false, approval: data } });
          return TaskResult.suspend();
        });
        for (const [signal, data, expected] of [
          ['approve', { user: 'alice' }, St.SUCCEEDED],
          ['reject', { user: 'bob', reason: 'no' }, St.TERMINAL],
        ] as const) {
          const w = wf([S('gate', ['approval'], [], { approval_reject_continues: false }, { type: 'approval' })]);
          let r = await h.run(w);
          expect(stageOf(r, 'gate').status).toBe(St.SUSPENDED);
          await h.orchestrator.signal(w, w.stages[0]!.id, signal, data, { persistent: true });
          await h.drain();
          r = await h.store.retrieve(w.id);
          expect(stageOf(r, 'gate').status).toBe(expected);
          if (expected === St.SUCCEEDED) expect(stageOf(r, 'gate').outputs).toEqual({ approved: true, approval: { user: 'alice' } });
        }
      }),
    );

    it(
      '73. ours: a suspended stage keeps the workflow RUNNING indefinitely (no wait budget)',
      withHarness(async (h) => {
        registerPatternTasks(h);
        const r = await h.run(wf([S('a', ['emit']), S('h', ['susp'])]));
        expect([stageOf(r, 'a').status, stageOf(r, 'h').status, r.status]).toEqual([St.SUCCEEDED, St.SUSPENDED, St.RUNNING]);
        expect(await h.queue.size()).toBe(0);
      }),
    );

    it(
      '74. an approval re-run after a backward jump succeeds with the old approval',
      withHarness(async (h) => {
        h.registry.register('approval', (stage) => (stage.context._signal_name === 'approve' ? TaskResult.success({ outputs: { approved: true } }) : TaskResult.suspend()));
        let jumped = false;
        h.registry.register('jumpOnce', () => {
          if (jumped) return TaskResult.success();
          jumped = true;
          return TaskResult.jumpTo('gate');
        });
        const w = wf([S('gate', ['approval']), S('after', ['jumpOnce'], ['gate'])]);
        await h.run(w);
        await h.orchestrator.signal(w, w.stages[0]!.id, 'approve', { user: 'alice' }, { persistent: true });
        await h.drain();
        const r = await h.store.retrieve(w.id);
        expect([stageOf(r, 'gate').status, stageOf(r, 'after').status, r.status]).toEqual([St.SUCCEEDED, St.SUCCEEDED, St.SUCCEEDED]);
        expect(jumped).toBe(true);
      }),
    );
  });

  describe('patterns §9.10 stageEnabled', () => {
    it(
      '75. a disabled stage is skipped and its successor runs',
      withHarness(async (h) => {
        const r = await h.run(wf([S('a', ['emit']), S('b', ['emit'], ['a'], { stageEnabled: false }), S('c', ['emit'], ['b'])]));
        expect([stageOf(r, 'b').status, stageOf(r, 'c').status, r.status]).toEqual([St.SKIPPED, St.SUCCEEDED, St.SUCCEEDED]);
      }),
    );

    it(
      '76. only a falsy expression or false skips',
      withHarness(async (h) => {
        const values: Record<string, unknown> = {
          b: { type: 'expression', expression: "a.env == 'prod'" },
          c: { type: 'expression', expression: "env == 'prod'" },
          d: { type: 'expression', expression: 'env ===' },
          e: 'false',
          f: { type: 'expression' },
          g: { type: 'other', expression: 'False' },
          h: 0,
        };
        const r = await h.run(wf([S('a', ['emit'], [], { emit: { env: 'prod' } }), ...Object.entries(values).map(([ref, v]) => S(ref, ['emit'], ['a'], { stageEnabled: v }))]));
        expect(Object.keys(values).filter((ref) => stageOf(r, ref).status === St.SKIPPED)).toEqual(['c']);
        expect(r.status).toBe(St.SUCCEEDED);
      }),
    );

    it(
      '77. a grand-parent is not visible to stageEnabled',
      withHarness(async (h) => {
        const r = await h.run(wf([S('a', ['emit'], [], { emit: { env: 'prod' } }), S('m', ['emit'], ['a']), S('b', ['emit'], ['m'], { stageEnabled: { type: 'expression', expression: "a.env == 'prod'" } })]));
        expect(stageOf(r, 'b').status).toBe(St.SKIPPED);
      }),
    );

    it(
      '78. a disabled branch does not block an AND-join',
      withHarness(async (h) => {
        const r = await h.run(wf([S('a', ['emit']), S('b', ['emit'], ['a'], { stageEnabled: false }), S('c', ['emit'], ['a']), S('j', ['emit'], ['b', 'c'])]));
        expect(stageOf(r, 'j').status).toBe(St.SUCCEEDED);
      }),
    );
  });

  describe('patterns §9.11 multi-instance', () => {
    it(
      '81. a fixed number of instances run and the stage joins them',
      withHarness(async (h) => {
        const rev = S('rev', ['emit'], [], { emit: { reviewed: true } });
        const instances = MultiInstanceBuilder.fixed(rev, 2);
        const r = await h.run(wf([rev, ...instances, S('after', ['echo'], ['rev'])]));
        expect([stageOf(r, 'rev').status, stageOf(r, 'rev_instance_0').status, stageOf(r, 'rev_instance_1').status, stageOf(r, 'after').status]).toEqual(Array(4).fill(St.SUCCEEDED));
        expect(count(h, 'rev_instance_0') + count(h, 'rev_instance_1')).toBe(2);
        expect(count(h, 'rev')).toBe(0);
        expect(h.echoed.get('after')).toMatchObject({ reviewed: true });
        expect(r.status).toBe(St.SUCCEEDED);
      }),
    );

    it(
      '82. ours: instances added at run time are joined; the last one closes creation',
      withHarness(async (h) => {
        const rev = MultiInstanceBuilder.dynamic(S('rev', ['echo']));
        const w = wf([rev, S('after', ['emit'], ['rev'])]);
        let r = await h.run(w);
        expect([stageOf(r, 'rev').status, r.status]).toEqual([St.RUNNING, St.RUNNING]);
        await h.orchestrator.send(Messages.addMultiInstance(w.id, rev.id, { item: 'n0' }));
        await h.orchestrator.send(Messages.addMultiInstance(w.id, rev.id, { item: 'n1' }, { close: true }));
        await h.drain();
        r = await h.store.retrieve(w.id);
        expect(stageOf(r, 'rev_instance_0').context).toMatchObject({ item: 'n0', _mi_instance_index: 0, _mi_parent_ref_id: 'rev' });
        expect(stageOf(r, 'rev_instance_1').name).toBe('rev [instance 1]');
        expect(h.echoed.get('rev_instance_1')).toMatchObject({ item: 'n1' });
        expect(stageOf(r, 'rev').context._mi_instance_count).toBe(2);
        expect([stageOf(r, 'rev').status, stageOf(r, 'after').status, r.status]).toEqual([St.SUCCEEDED, St.SUCCEEDED, St.SUCCEEDED]);
      }),
    );

    it(
      '83. ours: a dynamic stage with initial instances still accepts more (allowDynamic is kept)',
      withHarness(async (h) => {
        const rev = MultiInstanceBuilder.dynamic(S('rev', ['poll'], [], { pollTimes: 3 }), { initialCount: 1 });
        const w = wf([rev]);
        await h.orchestrator.start(w);
        await stepUntil(h, async () => (await h.store.retrieveStage(rev.id)).status === St.RUNNING);
        await h.orchestrator.send(Messages.addMultiInstance(w.id, rev.id, {}, { close: true }));
        await h.drain();
        const r = await h.store.retrieve(w.id);
        expect(r.stages.filter((s) => s.parentStageId === rev.id).map((s) => [s.refId, s.status])).toEqual([
          ['rev_instance_0', St.SUCCEEDED],
          ['rev_instance_1', St.SUCCEEDED],
        ]);
        expect(r.status).toBe(St.SUCCEEDED);
      }),
    );
  });

  describe('patterns §9.12 model, termination', () => {
    it(
      '84. pattern fields survive the store',
      withHarness(async (h) => {
        const s = new StageExecution({
          refId: 'x',
          joinType: JoinType.DISCRIMINATOR,
          joinThreshold: 3,
          splitType: SplitType.OR,
          splitConditions: { a: 'x > 5', b: 'y < 10' },
          deferredChoiceGroup: 'group_1',
          milestoneRefId: 'checkpoint',
          milestoneStatus: St.RUNNING,
          mutexKey: 'shared_lock',
          cancelRegion: 'region_A',
          miConfig: { count: 2, countFromContext: 'n', itemContextKey: 'cur' },
        });
        const w = wf([s]);
        await h.store.store(w);
        const back = stageOf(await h.store.retrieve(w.id), 'x');
        expect([back.joinType, back.joinThreshold, back.splitType, back.splitConditions]).toEqual([JoinType.DISCRIMINATOR, 3, SplitType.OR, { a: 'x > 5', b: 'y < 10' }]);
        expect([back.deferredChoiceGroup, back.milestoneRefId, back.milestoneStatus, back.mutexKey, back.cancelRegion]).toEqual(['group_1', 'checkpoint', 'RUNNING', 'shared_lock', 'region_A']);
        expect(back.miConfig).toEqual({ count: 2, countFromContext: 'n', itemContextKey: 'cur' });
      }),
    );

    it(
      '96. parallel branches gather through a reducer at the join',
      withHarness(async (h) => {
        h.registry.register('gather', (stage) => TaskResult.success({ outputs: { gathered: stage.context.result } }));
        const r = await h.run(wf([S('a', ['emit'], [], { emit: { result: 'alpha' } }), S('b', ['emit'], [], { emit: { result: 'beta' } }), S('join', ['gather'], ['a', 'b'], {}, { outputReducers: { result: 'collect' } })]));
        expect(r.status).toBe(St.SUCCEEDED);
        expect([...(stageOf(r, 'join').outputs.gathered as string[])].sort()).toEqual(['alpha', 'beta']);
      }),
    );

    it(
      '89. a SUCCEEDED stage receiving StartStage stays SUCCEEDED',
      withHarness(async (h) => {
        const w = wf([S('a', ['emit'])]);
        await h.run(w);
        await h.orchestrator.send(Messages.startStage(w.id, w.stages[0]!.id));
        await h.drain();
        expect((await h.store.retrieveStage(w.stages[0]!.id)).status).toBe(St.SUCCEEDED);
        expect(count(h, 'a')).toBe(1);
      }),
    );

    it(
      '93. ours: a long-polling branch does not fail the workflow (no wait budget)',
      withHarness(async (h) => {
        const r = await h.run(wf([S('a', ['emit']), S('b', ['poll'], [], { pollTimes: 20 })]));
        expect([stageOf(r, 'b').status, r.status]).toEqual([St.SUCCEEDED, St.SUCCEEDED]);
      }),
    );

    it(
      '94. ours (Q4): redirect() without a target counts as success',
      withHarness(async (h) => {
        h.registry.register('redirectOnly', () => TaskResult.redirect());
        const r = await h.run(wf([S('a', ['redirectOnly']), S('b', ['emit'], ['a'])]));
        expect([stageOf(r, 'a').status, stageOf(r, 'b').status, r.status]).toEqual([St.SUCCEEDED, St.SUCCEEDED, St.SUCCEEDED]);
      }),
    );
  });
}

export type { Harness };
