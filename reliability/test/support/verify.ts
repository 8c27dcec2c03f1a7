// Checks shared by the cases: final states, task-body runs, completions, leftovers, RSS growth.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { isComplete, type WorkflowStore } from '@stabilize/core';
import { expect } from 'vitest';
import type { CaseRecord, WorkloadCase } from '../fixtures/workload.js';
import type { RssSample, Worker } from './workers.js';

/** Total of the counts of `lines`. */
export const total = (lines: Map<string, number>): number => [...lines.values()].reduce((a, b) => a + b, 0);

/** Marker lines of the runs logs (not task-body runs): a slow body began, SIGTERM, a poll after it. */
const MARKERS = /^(?:begin|sigterm|poll-after-sigterm) /;

/**
 * Line → occurrences over every file in `dir` whose name starts with `prefix`: the runs ("<id> <refId>")
 * or, with `marker`, only the lines starting with "<marker> ".
 */
export function countLines(dir: string, prefix: string, marker?: string): Map<string, number> {
  const result = new Map<string, number>();
  for (const name of readdirSync(dir).filter((n) => n.startsWith(prefix))) {
    const file = join(dir, name);
    if (!existsSync(file)) continue;
    for (const line of readFileSync(file, 'utf8').split('\n').filter(Boolean)) {
      if (marker ? !line.startsWith(`${marker} `) : MARKERS.test(line)) continue;
      result.set(line, (result.get(line) ?? 0) + 1);
    }
  }
  return result;
}

/** Waits (polling) until no workflow is NOT_STARTED or RUNNING; `onProgress` gets the done fraction. */
export async function waitUntilDone(
  store: WorkflowStore,
  total: number,
  timeoutMs: number,
  onProgress: (fraction: number) => void = () => {},
  workers: Worker[] = [],
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    // A worker that died cannot finish anything: fail at once, with its log.
    const dead = workers.find((w) => w.child.exitCode !== null || w.child.signalCode !== null);
    if (dead) throw new Error(`worker ${dead.child.pid} exited (${dead.child.exitCode ?? dead.child.signalCode}) before the workflows finished; its log:\n${dead.stderr}`);
    let pending: number;
    let all: number;
    try {
      pending = await store.countWorkflows({ statuses: ['NOT_STARTED', 'RUNNING'] });
      all = await store.countWorkflows({});
    } catch (error) {
      // The database may be restarting (fault cases): look again.
      if (Date.now() > deadline) throw error;
      await new Promise((r) => setTimeout(r, 200));
      continue;
    }
    onProgress(all >= total ? (total - pending) / total : Math.max(0, (all - pending) / total));
    if (all >= total && pending === 0) return;
    if (Date.now() > deadline) {
      throw new Error(
        `${pending} of ${total} workflows still pending after ${timeoutMs} ms (${all} stored):\n${await describePending(store)}\nworker logs:\n${workers.map((w) => w.stderr).join('\n---\n')}`,
      );
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** The stuck workflows, stage by stage, for a failure message. */
async function describePending(store: WorkflowStore): Promise<string> {
  const stuck = await store.listWorkflows({ statuses: ['NOT_STARTED', 'RUNNING'], limit: 5 });
  const lines: string[] = [];
  for (const summary of stuck) {
    const wf = await store.retrieve(summary.id);
    lines.push(`${wf.id} ${wf.name} ${wf.status}`);
    for (const s of wf.stages) {
      lines.push(`  ${s.refId} ${s.status} v${s.version} req=[${s.requisiteStageRefIds.join(',')}] tasks=[${s.tasks.map((t) => t.status).join(',')}] ctx=${JSON.stringify(s.context).slice(0, 300)}`);
    }
  }
  return lines.join('\n');
}

export interface Outcome {
  workflows: number;
  /** Task-body runs beyond the expected ones (documented retries included in the expectation). */
  extraRuns: number;
  /** Expected task-body runs in total. */
  expectedRuns: number;
  /** Completed workflows whose completion commit no worker saw succeed (only allowed with faults). */
  unseenCompletions: number;
}

/**
 * Every workflow in its expected final state, joins with every upstream's outputs merged, every
 * task body run at least as often as expected (extra runs returned: the caller bounds them), and
 * every workflow completion committed exactly once.
 */
export async function verifyCases(
  store: WorkflowStore,
  cases: Array<WorkloadCase | CaseRecord>,
  runs: Map<string, number>,
  completions: Map<string, number>,
  options: { completionMaySeemLost?: boolean } = {},
): Promise<Outcome> {
  let unseenCompletions = 0;
  let extraRuns = 0;
  let expectedRuns = 0;
  const wrong: string[] = [];
  for (const c of cases) {
    const id = 'workflow' in c ? c.workflow.id : c.id;
    const expectedRunsOf = 'workflow' in c ? [...c.expectedRuns] : c.expectedRuns;
    const workflow = await store.retrieve(id);
    if (workflow.status !== c.expectedStatus) wrong.push(`${id}: ${workflow.status}, expected ${c.expectedStatus}`);
    if (c.join) {
      const joinStage = workflow.stages.find((s) => s.refId === c.join!.refId)!;
      const merged = { ...joinStage.context, ...joinStage.outputs };
      for (const key of c.join.keys) if (!(key in merged)) wrong.push(`${id}: join lacks ${key}`);
    }
    for (const [key, expected] of expectedRunsOf) {
      const actual = runs.get(key) ?? 0;
      expectedRuns += expected;
      if (actual < expected) wrong.push(`${key}: ran ${actual}, expected ${expected}`);
      else extraRuns += actual - expected;
    }
    const completed = [...completions].filter(([line]) => line.startsWith(`${id} `));
    const times = completed.reduce((sum, [, n]) => sum + n, 0);
    if (times > 1) wrong.push(`${id}: completion committed ${times} times`);
    if (isComplete(workflow.status) && times === 0) {
      // A commit whose reply was lost with the connection (the server went down right after it
      // committed): the worker saw an error, the redelivered message found the work done.
      if (options.completionMaySeemLost) unseenCompletions++;
      else wrong.push(`${id}: completion not seen by any worker`);
    }
  }
  expect(wrong.slice(0, 20)).toEqual([]);
  return { workflows: cases.length, extraRuns, expectedRuns, unseenCompletions };
}

export interface RssGrowth {
  /** Per worker: the highest sample up to the first one at ≥ 10% progress (MiB). */
  baselineMiB: number[];
  /** Per worker: the highest sample after that (MiB). */
  peakMiB: number[];
  /** Per worker: peak − baseline (MiB). */
  growthMiB: number[];
  /** Per worker: the same for the V8 heap in use (MiB). */
  heapGrowthMiB: number[];
}

const MiB = 1024 * 1024;

/** RSS growth of each worker after the first 10% of the work. */
export function rssGrowth(samplesPerWorker: RssSample[][]): RssGrowth {
  const result: RssGrowth = { baselineMiB: [], peakMiB: [], growthMiB: [], heapGrowthMiB: [] };
  for (const samples of samplesPerWorker) {
    const first = samples.findIndex((s) => s.progress >= 0.1);
    expect(first, 'an RSS sample after 10% progress').toBeGreaterThanOrEqual(0);
    const baseline = Math.max(...samples.slice(0, first + 1).map((s) => s.rss));
    const later = samples.slice(first + 1).map((s) => s.rss);
    const peak = later.length > 0 ? Math.max(...later) : baseline;
    result.baselineMiB.push(Math.round(baseline / MiB));
    result.peakMiB.push(Math.round(peak / MiB));
    result.growthMiB.push(Math.round((peak - baseline) / MiB));
    const heapBaseline = Math.max(...samples.slice(0, first + 1).map((s) => s.heapUsed));
    const heapLater = samples.slice(first + 1).map((s) => s.heapUsed);
    result.heapGrowthMiB.push(Math.round(((heapLater.length > 0 ? Math.max(...heapLater) : heapBaseline) - heapBaseline) / MiB));
  }
  return result;
}
