// Engine scenarios of engine.md §14 B (remaining), C (polling, retries, timeouts), D (skips,
// conditions, control messages) and F (reducers, aggregate).
import { describe, expect, it } from 'vitest';
import { PermanentError, TransientError } from '../errors.js';
import { Messages } from '../messages/messages.js';
import { WorkflowStatus } from '../model/status.js';
import { Workflow } from '../model/workflow.js';
import { assertContext } from '../task/assertions.js';
import type { RetryableTask } from '../task/task.js';
import { TaskResult } from '../task/task-result.js';
import type { BackendFactory } from './backend.js';
import { createHarness, type Harness, S, stageOf } from './harness.js';
import { until } from './suite-patterns-support.js';

const wf = (stages: ReturnType<typeof S>[], context: Record<string, unknown> = {}) => Workflow.create({ application: 'conformance', name: 'scenario', stages, context });
const S_ = WorkflowStatus;

/** Resolves after `ms` of real time, or at once when `signal` aborts. */
export function abortableSleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal?.addEventListener('abort', () => {
      clearTimeout(timer);
      resolve();
    });
  });
}

/** Polls `check` until it returns true (bounded); the same helper as the pattern suites' `until`. */
export const eventually = until;

export function controlScenarios(factory: BackendFactory): void {
  const withHarness = (fn: (h: Harness) => Promise<void>, options?: Parameters<typeof createHarness>[1]) => async () => {
    const h = await createHarness(factory, options);
    try {
      await fn(h);
    } finally {
      await h.processor.stop();
      await h.close();
    }
  };

  describe('B. Failure semantics (task results)', () => {
    it(
      '20. a failed task does not stop the next task (Q2)',
      withHarness(async (h) => {
        h.registry.register('emitX', () => TaskResult.success({ outputs: { x: 1 } }));
        const result = await h.run(wf([S('a', ['fail', 'emitX'])]));
        const a = stageOf(result, 'a');
        expect(a.tasks.map((t) => t.status)).toEqual([S_.TERMINAL, S_.SUCCEEDED]);
        expect(a.status).toBe(S_.TERMINAL);
        expect(a.outputs.x).toBe(1);
        expect(result.status).toBe(S_.TERMINAL);
      }),
    );

    it(
      '21. failedContinue then success in one stage lets downstream see the outputs',
      withHarness(async (h) => {
        const result = await h.run(wf([S('a', ['fc', 'success']), S('b', ['echo'], ['a'])]));
        expect(stageOf(result, 'a').status).toBe(S_.FAILED_CONTINUE);
        expect(h.echoed.get('b')).toMatchObject({ success: true });
        expect(result.status).toBe(S_.SUCCEEDED);
      }),
    );

    it(
      '22. a canceled() result cancels the stage and the workflow',
      withHarness(async (h) => {
        h.registry.register('cancelTask', () => TaskResult.canceled({ outputs: { c: 1 } }));
        const result = await h.run(wf([S('a', ['cancelTask']), S('b', ['success'], ['a'])]));
        expect(stageOf(result, 'a').status).toBe(S_.CANCELED);
        expect(stageOf(result, 'a').outputs).toEqual({ c: 1 });
        expect(stageOf(result, 'b').status).toBe(S_.NOT_STARTED);
        expect(result.status).toBe(S_.CANCELED);
      }),
    );

    it(
      '23. a stopped() result blocks only its own branch',
      withHarness(async (h) => {
        h.registry.register('stopped', () => TaskResult.stopped());
        const result = await h.run(wf([S('a', ['stopped']), S('b', ['success'], ['a']), S('c', ['success'])]));
        expect(stageOf(result, 'a').status).toBe(S_.STOPPED);
        expect(stageOf(result, 'b').status).toBe(S_.NOT_STARTED);
        expect(stageOf(result, 'c').status).toBe(S_.SUCCEEDED);
        expect(result.status).toBe(S_.SUCCEEDED);
      }),
    );

    it(
      '24. an unknown task type fails the stage with a clear error',
      withHarness(async (h) => {
        const result = await h.run(wf([S('a', ['missing'])]));
        const a = stageOf(result, 'a');
        expect(a.tasks[0]!.status).toBe(S_.TERMINAL);
        expect(a.status).toBe(S_.TERMINAL);
        expect((a.context.exception as { details: { error: string } }).details.error).toBe('No task found for type: missing');
        expect(result.status).toBe(S_.TERMINAL);
      }),
    );

    it(
      '25. a PermanentError fails the stage with a full error record',
      withHarness(async (h) => {
        h.registry.register('permanent', () => {
          throw new PermanentError('nope');
        });
        const result = await h.run(wf([S('a', ['permanent'])]));
        const a = stageOf(result, 'a');
        expect(a.status).toBe(S_.TERMINAL);
        const details = (a.context.exception as { details: Record<string, unknown> }).details;
        expect(details).toMatchObject({ error: 'nope', errors: ['nope'], transient: false, error_code: 'USER_CODE_ERROR' });
        expect(a.tasks[0]!.taskExceptionDetails).toEqual(a.context.exception);
      }),
    );

    it(
      '27. a failed assertion helper fails the task',
      withHarness(async (h) => {
        h.registry.register('needsKey', (stage) => {
          assertContext(stage, 'api_key');
          return TaskResult.success();
        });
        const result = await h.run(wf([S('a', ['needsKey'])]));
        expect(stageOf(result, 'a').status).toBe(S_.TERMINAL);
        expect(JSON.stringify(stageOf(result, 'a').context.exception)).toContain("Required context key 'api_key' is missing");
      }),
    );
  });

  describe('C. Polling, retries, timeouts', () => {
    it(
      '28. a RUNNING result re-polls until done',
      withHarness(async (h) => {
        const start = h.clock.now();
        const result = await h.run(wf([S('a', ['poll'], [], { pollTimes: 3 })]));
        const a = stageOf(result, 'a');
        expect(h.executions).toEqual(['a', 'a', 'a']);
        expect(a.context.n).toBe(2);
        expect(a.outputs).toEqual({ polled: 3 });
        expect(a.status).toBe(S_.SUCCEEDED);
        const waited = h.clock.now() - start;
        expect(waited).toBeGreaterThanOrEqual(1500);
        expect(waited).toBeLessThanOrEqual(2500);
      }),
    );

    it(
      '29. transient errors retry with their context updates and retryAfter',
      withHarness(async (h) => {
        let calls = 0;
        h.registry.register('stateful', (stage) => {
          calls++;
          const progress = (stage.context.progress as number | undefined) ?? 0;
          if (calls < 3) throw new TransientError('not yet', { retryAfterMs: 100, contextUpdate: { progress: progress + 33 } });
          return TaskResult.success({ outputs: { final_progress: progress + 34 } });
        });
        const start = h.clock.now();
        const result = await h.run(wf([S('a', ['stateful'])]));
        expect(result.status).toBe(S_.SUCCEEDED);
        expect(stageOf(result, 'a').outputs.final_progress).toBe(100);
        expect(calls).toBe(3);
        expect(h.clock.now() - start).toBe(200);
      }),
    );

    it(
      '30. transient retries are bounded (Q5): the tenth failure ends the task',
      withHarness(async (h) => {
        let calls = 0;
        h.registry.register('flaky12', () => {
          calls++;
          if (calls <= 12) throw new TransientError(`blip ${calls}`);
          return TaskResult.success();
        });
        const result = await h.run(wf([S('a', ['flaky12'])]), { timeoutMs: 30_000 });
        expect(calls).toBe(10);
        expect(result.status).toBe(S_.TERMINAL);
        expect((stageOf(result, 'a').context.exception as { details: Record<string, unknown> }).details).toMatchObject({ error: 'blip 10', transient: true, attempts: 10, error_code: 'NETWORK_ERROR' });
        let few = 0;
        h.registry.register('flaky3', () => {
          few++;
          if (few <= 3) throw new TransientError('blip');
          return TaskResult.success({ outputs: { tries: few } });
        });
        const ok = await h.run(wf([S('b', ['flaky3'])]));
        expect(ok.status).toBe(S_.SUCCEEDED);
        expect(stageOf(ok, 'b').outputs.tries).toBe(4);
      }),
    );

    it(
      '31. a RetryableTask fails when its total timeout passes',
      withHarness(async (h) => {
        const forever: RetryableTask = { getTimeout: () => 2000, getBackoffPeriod: () => 200, execute: () => TaskResult.running() };
        h.registry.register('forever', forever);
        const result = await h.run(wf([S('a', ['forever'])]));
        const a = stageOf(result, 'a');
        expect(a.status).toBe(S_.TERMINAL);
        expect((a.context.exception as { details: { error: string } }).details.error).toMatch(/^Task exceeded total timeout \(\d+ms > 2000ms\)$/);
      }),
    );

    it(
      '32. stageTimeoutMs bounds one execution',
      withHarness(async (h) => {
        h.registry.register('slow', async (_stage, ctx) => {
          await abortableSleep(1500, ctx.signal);
          return TaskResult.success();
        });
        const result = await h.run(wf([S('a', ['slow'], [], { stageTimeoutMs: 300 })]));
        expect(stageOf(result, 'a').status).toBe(S_.TERMINAL);
        expect((stageOf(result, 'a').context.exception as { details: { error: string } }).details.error).toMatch(/^Task exceeded timeout/);
      }),
    );

    it(
      '33. onTimeout can turn a timeout into failedContinue',
      withHarness(async (h) => {
        h.registry.register('slowWithFallback', {
          async execute(_stage, ctx) {
            await abortableSleep(1500, ctx.signal);
            return TaskResult.success();
          },
          onTimeout: () => TaskResult.failedContinue('timed out', { outputs: { partial: true } }),
        });
        const result = await h.run(wf([S('a', ['slowWithFallback'], [], { stageTimeoutMs: 300 }), S('b', ['echo'], ['a'])]));
        const a = stageOf(result, 'a');
        expect(a.status).toBe(S_.FAILED_CONTINUE);
        expect(a.context.error).toBe('timed out');
        expect(a.outputs).toEqual({ partial: true });
        expect(stageOf(result, 'b').status).toBe(S_.SUCCEEDED);
        expect(h.echoed.get('b')).toMatchObject({ partial: true });
        expect(result.status).toBe(S_.SUCCEEDED);
      }),
    );

    it(
      '34. the stage wall-clock timeout holds across re-polls',
      withHarness(async (h) => {
        const result = await h.run(wf([S('a', ['poll'], [], { pollTimes: 100, stageTimeoutMs: 1500 })]));
        const a = stageOf(result, 'a');
        expect(a.status).toBe(S_.TERMINAL);
        expect((a.context.exception as { details: { error: string } }).details.error).toMatch(/^Stage exceeded timeout \(\d+ms > 1500ms\)$/);
        expect(h.executions.length).toBeGreaterThan(1);
        expect(h.executions.length).toBeLessThan(6);
      }),
    );

    it(
      '35. output verification failure fails the task',
      withHarness(async (h) => {
        h.registry.register('noUrl', () => TaskResult.success({ outputs: {} }));
        const result = await h.run(wf([S('a', ['noUrl'], [], { verification: { required_keys: ['url'] } })]));
        expect(stageOf(result, 'a').status).toBe(S_.TERMINAL);
        expect((stageOf(result, 'a').context.exception as { details: { error: string } }).details.error).toMatch(/^Output verification failed: Missing required outputs: url/);
      }),
    );
  });

  describe('D. Skips, conditions, control messages', () => {
    it(
      '36. stageEnabled false skips the stage and continues',
      withHarness(async (h) => {
        const result = await h.run(wf([S('a', ['success']), S('b', ['success'], ['a'], { stageEnabled: false }), S('c', ['success'], ['b'])]));
        expect(stageOf(result, 'b').status).toBe(S_.SKIPPED);
        expect(stageOf(result, 'b').tasks[0]!.status).toBe(S_.NOT_STARTED);
        expect(stageOf(result, 'c').status).toBe(S_.SUCCEEDED);
        expect(result.status).toBe(S_.SUCCEEDED);
      }),
    );

    it(
      '37. stageEnabled expressions see upstream outputs by refId',
      withHarness(async (h) => {
        const run = async (expression: string) => {
          const r = await h.run(wf([S('a', ['emit'], [], { emit: { go: false } }), S('d', ['success'], ['a'], { stageEnabled: { type: 'expression', expression } })]));
          return stageOf(r, 'd').status;
        };
        expect(await run('a.go == True')).toBe(S_.SKIPPED);
        expect(await run('go == True')).toBe(S_.SKIPPED);
        expect(await run('a.go == False')).toBe(S_.SUCCEEDED);
      }),
    );

    it(
      '38. manualSkip skips every task and the stage succeeds',
      withHarness(async (h) => {
        const result = await h.run(wf([S('a', ['success', 'success'], [], { manualSkip: true })]));
        expect(stageOf(result, 'a').tasks.map((t) => t.status)).toEqual([S_.SKIPPED, S_.SKIPPED]);
        expect(stageOf(result, 'a').status).toBe(S_.SUCCEEDED);
        expect(result.status).toBe(S_.SUCCEEDED);
        expect(h.executions).toEqual([]);
      }),
    );

    it(
      '39. a stage whose start time expired is skipped',
      withHarness(async (h) => {
        const result = await h.run(wf([S('a', ['success'], [], {}, { startTimeExpiry: 1000 }), S('b', ['success'], ['a'])]));
        expect(stageOf(result, 'a').status).toBe(S_.SKIPPED);
        expect(stageOf(result, 'a').tasks[0]!.status).toBe(S_.NOT_STARTED);
        expect(stageOf(result, 'b').status).toBe(S_.SUCCEEDED);
        expect(result.status).toBe(S_.SUCCEEDED);
      }),
    );

    it(
      '40. canceling a running workflow interrupts it',
      withHarness(
        async (h) => {
          let started = false;
          let aborted = false;
          h.registry.register('blocking', async (_stage, ctx) => {
            started = true;
            await abortableSleep(20_000, ctx.signal);
            aborted = ctx.signal.aborted;
            return TaskResult.success();
          });
          const w = wf([S('1', ['blocking']), S('2', ['success'], ['1'])]);
          await h.orchestrator.start(w);
          h.processor.start();
          await eventually(async () => started);
          await h.orchestrator.cancel(w, 'tester', 'unit test cancel');
          // The workflow's end and the cancellation of stage 2 are separate messages in either order.
          await eventually(async () => {
            const r = await h.store.retrieve(w.id);
            return r.status === S_.CANCELED && stageOf(r, '2').status === S_.CANCELED;
          });
          const result = await h.store.retrieve(w.id);
          expect(result.isCanceled).toBe(true);
          expect(result.canceledBy).toBe('tester');
          expect(result.cancellationReason).toBe('unit test cancel');
          expect(stageOf(result, '1').status).toBe(S_.CANCELED);
          expect(stageOf(result, '2').status).toBe(S_.CANCELED);
          await eventually(async () => aborted);
        },
        { maxWorkers: 4 },
      ),
    );

    it(
      '41. canceling before start cancels every stage',
      withHarness(async (h) => {
        const w = wf([S('a', ['success']), S('b', ['success'], ['a'])]);
        await h.store.store(w);
        await h.orchestrator.cancel(w, 'tester', 'never mind');
        await h.drain();
        const result = await h.store.retrieve(w.id);
        expect(result.status).toBe(S_.CANCELED);
        expect(result.stages.map((s) => s.status)).toEqual([S_.CANCELED, S_.CANCELED]);
        expect(h.executions).toEqual([]);
      }),
    );

    it(
      '42. canceling a finished workflow changes nothing',
      withHarness(async (h) => {
        const w = wf([S('a', ['success'])]);
        await h.run(w);
        await h.orchestrator.cancel(w, 'tester', 'late');
        await h.drain();
        const result = await h.store.retrieve(w.id);
        expect(result.status).toBe(S_.SUCCEEDED);
        expect(result.isCanceled).toBe(false);
      }),
    );

    it(
      '43. restarting a failed stage re-runs it',
      withHarness(async (h) => {
        let calls = 0;
        h.registry.register('flaky', () => (++calls === 1 ? TaskResult.terminal('first call fails') : TaskResult.success({ outputs: { fixed: true } })));
        const w = wf([S('a', ['flaky'])]);
        expect((await h.run(w)).status).toBe(S_.TERMINAL);
        await h.orchestrator.restart(w, w.stages[0]!.id);
        await h.drain();
        const result = await h.store.retrieve(w.id);
        expect(result.status).toBe(S_.SUCCEEDED);
        expect(stageOf(result, 'a').status).toBe(S_.SUCCEEDED);
        expect(calls).toBe(2);
      }),
    );

    it(
      '44. restarting a failed middle stage continues downstream',
      withHarness(async (h) => {
        let calls = 0;
        h.registry.register('flakyB', () => (++calls === 1 ? TaskResult.terminal('first attempt failed') : TaskResult.success({ outputs: { fromB: 'ok' } })));
        const w = wf([S('A', ['success']), S('B', ['flakyB'], ['A']), S('C', ['echo'], ['B'])]);
        expect((await h.run(w)).status).toBe(S_.TERMINAL);
        await h.orchestrator.restart(w, w.stages[1]!.id);
        await h.drain();
        const result = await h.store.retrieve(w.id);
        expect(result.status).toBe(S_.SUCCEEDED);
        expect(stageOf(result, 'B').status).toBe(S_.SUCCEEDED);
        expect(stageOf(result, 'C').status).toBe(S_.SUCCEEDED);
        expect(stageOf(result, 'B').context.error).toBe('first attempt failed');
        expect(h.echoed.get('C')).toMatchObject({ fromB: 'ok' });
        expect(h.executions.filter((r) => r === 'A')).toHaveLength(1);
      }),
    );

    it(
      '45. pausing parks the running task; resuming completes the workflow',
      withHarness(async (h) => {
        const w = wf([S('a', ['success'])]);
        await h.orchestrator.start(w);
        expect(await h.processor.processOne()).toBe(true); // StartWorkflow (starts the stage in place)
        await h.orchestrator.pause(w, 'tester');
        expect((await h.store.retrieveWorkflowOnly(w.id)).paused?.pausedBy).toBe('tester');
        for (let i = 0; i < 2; i++) expect(await h.processor.processOne()).toBe(true); // RunTask -> PauseTask, PauseTask
        let result = await h.store.retrieve(w.id);
        expect(result.status).toBe(S_.PAUSED);
        expect(stageOf(result, 'a').status).toBe(S_.PAUSED);
        expect(stageOf(result, 'a').tasks[0]!.status).toBe(S_.PAUSED);
        expect(h.executions).toEqual([]);
        await h.orchestrator.resume(w);
        await h.drain();
        result = await h.store.retrieve(w.id);
        expect(result.status).toBe(S_.SUCCEEDED);
        expect(stageOf(result, 'a').tasks[0]!.status).toBe(S_.SUCCEEDED);
        expect(result.paused?.resumeTime).not.toBeNull();
      }),
    );

    it(
      'a pause that lands while the last task runs: its result is kept, the task runs once, the workflow completes (Q21)',
      withHarness(
        async (h) => {
          const w = wf([S('a', ['pauser'])]);
          let runs = 0;
          h.registry.register('pauser', async () => {
            runs += 1;
            await h.orchestrator.pause(w, 'tester');
            await eventually(async () => (await h.store.retrieveWorkflowOnly(w.id)).status === S_.PAUSED);
            return TaskResult.success({ outputs: { done: true } });
          });
          await h.orchestrator.start(w);
          h.processor.start();
          await eventually(async () => (await h.store.retrieveWorkflowOnly(w.id)).status === S_.SUCCEEDED);
          await h.processor.stop();
          const result = await h.store.retrieve(w.id);
          expect(stageOf(result, 'a').status).toBe(S_.SUCCEEDED);
          expect(stageOf(result, 'a').outputs).toEqual({ done: true });
          expect(runs).toBe(1);
          expect(await h.queue.deadLetterCount()).toBe(0);
        },
        { maxWorkers: 4 },
      ),
    );

    it(
      '46. a message without a handler is rescheduled, never dropped',
      withHarness(async (h) => {
        h.processor.registerHandler('CancelWorkflow', undefined);
        await h.queue.push(Messages.cancelWorkflow('w', 'u', 'r'));
        await expect(h.processor.processOne()).rejects.toThrow('No handler registered for CancelWorkflow');
        expect(await h.queue.size()).toBe(1);
      }),
    );

    const suspendTask = (h: Harness) =>
      h.registry.register('waitForSignal', (stage) =>
        stage.context._signal_name ? TaskResult.success({ outputs: { sig: stage.context._signal_data } }) : TaskResult.suspend({ context: { waiting: true } }),
      );

    it(
      '47. a suspended stage resumes on a signal',
      withHarness(async (h) => {
        suspendTask(h);
        const w = wf([S('a', ['waitForSignal']), S('b', ['success'], ['a'])]);
        let result = await h.run(w);
        expect(stageOf(result, 'a').status).toBe(S_.SUSPENDED);
        expect(result.status).toBe(S_.RUNNING);
        expect(await h.queue.size()).toBe(0);
        await h.orchestrator.signal(w, w.stages[0]!.id, 'go', { x: 1 });
        await h.drain();
        result = await h.store.retrieve(w.id);
        expect(stageOf(result, 'a').status).toBe(S_.SUCCEEDED);
        expect(stageOf(result, 'a').outputs).toEqual({ sig: { x: 1 } });
        expect(stageOf(result, 'b').status).toBe(S_.SUCCEEDED);
        expect(result.status).toBe(S_.SUCCEEDED);
      }),
    );

    it(
      '48. a persistent signal sent early is buffered and consumed on suspend',
      withHarness(async (h) => {
        suspendTask(h);
        const w = wf([S('a', ['success']), S('b', ['waitForSignal'], ['a'])]);
        await h.store.store(w);
        await h.orchestrator.signal(w, w.stages[1]!.id, 'early', { e: 1 }, { persistent: true });
        await h.orchestrator.signal(w, w.stages[1]!.id, 'ignored', { i: 1 });
        await h.drain();
        const buffered = (await h.store.retrieveStage(w.stages[1]!.id)).context._buffered_signals;
        expect(buffered).toEqual([{ signal_name: 'early', signal_data: { e: 1 } }]);
        const result = await h.run(w);
        const b = stageOf(result, 'b');
        expect(b.status).toBe(S_.SUCCEEDED);
        expect(b.outputs.sig).toEqual({ e: 1 });
        expect(b.context._buffered_signals).toEqual([]);
        expect(result.status).toBe(S_.SUCCEEDED);
      }),
    );

    it(
      '49. canceling a suspended workflow cancels every stage',
      withHarness(async (h) => {
        suspendTask(h);
        const w = wf([S('a', ['waitForSignal']), S('b', ['success'], ['a'])]);
        await h.run(w);
        await h.orchestrator.cancel(w, 'tester', 'stop waiting');
        await h.drain();
        const result = await h.store.retrieve(w.id);
        expect(result.stages.map((s) => s.status)).toEqual([S_.CANCELED, S_.CANCELED]);
        expect(result.status).toBe(S_.CANCELED);
      }),
    );
  });

  describe('F. Reducers and aggregates', () => {
    it(
      '68. output reducers fold the values of direct upstreams',
      withHarness(async (h) => {
        const result = await h.run(
          wf([S('a', ['emit'], [], { emit: { x: 1 } }), S('c', ['emit'], [], { emit: { x: 1 } }), S('b', ['echo'], ['a', 'c'], {}, { outputReducers: { x: 'collect' } })]),
        );
        expect(result.status).toBe(S_.SUCCEEDED);
        expect(h.echoed.get('b')!.x).toEqual([1, 1]);
        const bad = await h.run(wf([S('a', ['emit'], [], { emit: { x: 1 } }), S('b', ['echo'], ['a'], {}, { outputReducers: { x: 'nonsense' } })]));
        expect(stageOf(bad, 'b').status).toBe(S_.TERMINAL);
        expect((stageOf(bad, 'b').context.exception as { details: { error: string } }).details.error).toBe("Unknown output reducer 'nonsense'");
        expect(bad.status).toBe(S_.TERMINAL);
      }),
    );

    it(
      '69. the workflow aggregate unions lists across stages',
      withHarness(async (h) => {
        const result = await h.run(wf([S('1', ['emit'], [], { emit: { list_output: ['a', 'b', 'c'] } }), S('2', ['emit'], ['1'], { emit: { list_output: ['b', 'c', 'd'] } })]));
        expect(new Set(result.getContext().list_output as string[])).toEqual(new Set(['a', 'b', 'c', 'd']));
      }),
    );
  });
}
