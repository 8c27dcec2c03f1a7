// Shared helpers of the control-flow pattern suites (suite-patterns.ts, suite-patterns-wcp.ts).
import type { StageExecution } from '../model/stage-execution.js';
import { isComplete } from '../model/status.js';
import { Workflow } from '../model/workflow.js';
import type { Transaction } from '../store/transaction.js';
import { TaskResult } from '../task/task-result.js';
import type { BackendFactory } from './backend.js';
import { createHarness, type Harness } from './harness.js';

export const wf = (stages: StageExecution[], context: Record<string, unknown> = {}) => Workflow.create({ application: 'conformance', name: 'patterns', stages, context });

export interface Interval {
  ref: string;
  start: number;
  end: number;
  aborted: boolean;
}

/** What the pattern tasks record: real-time intervals of `track` / `sleepy` executions. */
export interface PatternLog {
  intervals: Interval[];
  /** Refs whose execution has ended (in order). */
  finished: string[];
}

/** Sleeps `ms`, or less: until the abort signal fires or `stop()` says so (checked every 20 ms). */
function abortableSleep(ms: number, signal: AbortSignal, stop: () => Promise<boolean> = async () => false): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const done = () => {
      clearTimeout(timer);
      clearInterval(check);
      resolve();
    };
    const timer = setTimeout(done, ms);
    const check = setInterval(() => void stop().then((yes) => yes && done(), done), 20);
    signal.addEventListener('abort', done);
  });
}

/**
 * The task vocabulary of patterns.md §9 on top of the harness tasks (`emit` is `ok` / `slow(d)`,
 * `fail`, `fc`): `susp` waits for a signal, `track` logs its real-time interval (context `delayMs`),
 * `sleepy` sleeps `sleepMs` (default 5 s) but stops at once when its stage is canceled.
 */
export function registerPatternTasks(h: Harness): PatternLog {
  const log: PatternLog = { intervals: [], finished: [] };
  h.registry.register('susp', (stage) => {
    h.executions.push(stage.refId);
    const data = stage.context._signal_data;
    if (data !== undefined && data !== null) return TaskResult.success({ outputs: { signal_received: data } });
    return TaskResult.suspend({ context: { waiting_for: 'signal' } });
  });
  const timed = async (stage: StageExecution, ms: number, signal: AbortSignal) => {
    h.executions.push(stage.refId);
    const start = performance.now();
    // Stops at the abort signal; a long sleep also stops once its stage has ended (a cancel that
    // raced the task's start), so that tests never wait for an orphaned task.
    await abortableSleep(ms, signal, async () => ms > 1000 && isComplete((await h.store.retrieveStage(stage.id)).status));
    log.intervals.push({ ref: stage.refId, start, end: performance.now(), aborted: signal.aborted });
    log.finished.push(stage.refId);
    return TaskResult.success({ outputs: (stage.context.emit as Record<string, unknown>) ?? {} });
  };
  h.registry.register('track', (stage, ctx) => timed(stage, typeof stage.context.delayMs === 'number' ? stage.context.delayMs : 0, ctx.signal));
  h.registry.register('sleepy', (stage, ctx) => timed(stage, typeof stage.context.sleepMs === 'number' ? stage.context.sleepMs : 5000, ctx.signal));
  return log;
}

/** Whether any two intervals of the given refs overlap in time. */
export function anyOverlap(intervals: readonly Interval[]): boolean {
  const sorted = [...intervals].sort((a, b) => a.start - b.start);
  for (let i = 1; i < sorted.length; i++) if (sorted[i]!.start < sorted[i - 1]!.end) return true;
  return false;
}

export const count = (h: Harness, ref: string) => h.executions.filter((r) => r === ref).length;

/** A harness per test, closed afterwards (the background worker stopped first). */
export function harnessFor(factory: BackendFactory) {
  return (fn: (h: Harness) => Promise<void>, options?: Parameters<typeof createHarness>[1]) => async () => {
    const h = await createHarness(factory, options);
    try {
      await fn(h);
    } finally {
      await h.processor.stop();
      await h.close();
    }
  };
}

/** Runs the background worker until the workflow ends (bounded), then stops it. */
export async function runInBackground(h: Harness, workflowId: string, timeoutMs = 15_000): Promise<void> {
  h.processor.start();
  try {
    await until(async () => isComplete((await h.store.retrieveWorkflowOnly(workflowId)).status), timeoutMs);
  } finally {
    await h.processor.stop();
  }
}

/** Polls `check` (test side only) until it holds; bounded. */
export async function until(check: () => Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (performance.now() < deadline) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 5));
  }
  throw new Error('condition not reached in time');
}

/** Handles queued messages one at a time until `check` holds (bounded by `max` messages). */
export async function stepUntil(h: Harness, check: () => Promise<boolean>, max = 200): Promise<void> {
  for (let i = 0; i < max; i++) {
    if (await check()) return;
    if (!(await h.processor.processOne())) break;
  }
  if (!(await check())) throw new Error('condition not reached by stepping');
}

/**
 * Records every message the engine queues with a delay (a timer-driven wait) from now on. The
 * pattern mechanics must never need one: joins, mutexes, milestones and the workflow's end are woken
 * by the message that changes their state.
 */
export function delayedPushes(h: Harness): Array<{ type: string; delayMs: number }> {
  const delayed: Array<{ type: string; delayMs: number }> = [];
  const store = h.store as { commit: (tx: Transaction) => Promise<void> };
  const commit = store.commit.bind(h.store);
  // Synchronous on purpose: the wrapper must not add a tick between the handler and the store.
  store.commit = (tx: Transaction) => {
    for (const { message, delayMs } of tx.messages) if (delayMs > 0) delayed.push({ type: message.type, delayMs });
    return commit(tx);
  };
  return delayed;
}
