// One benchmark case: run workflows to completion and report throughput and latency as JSON.
import { type Shape, START_SPACING_MS } from './shapes.js';
import { Orchestrator, QueueProcessor, type Queue, TaskRegistry, TaskResult, type Workflow, WorkflowStatus, type WorkflowStore } from '@stabilize/core';

export interface CaseResult {
  backend: string;
  shape: string;
  size: number;
  workers: number;
  stages: number;
  seconds: number;
  stagesPerSecond: number;
  /** Time from `Orchestrator.start` to the first task execution of each workflow. */
  p50StartLatencyMs: number;
  p99StartLatencyMs: number;
  peakRssMb: number;
  status: string;
}

export function percentile(values: number[], p: number): number {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

/** Samples RSS until stopped; returns the peak in MiB. */
export function rssSampler(): () => number {
  let peak = process.memoryUsage().rss;
  const timer = setInterval(() => {
    peak = Math.max(peak, process.memoryUsage().rss);
  }, 20);
  return () => {
    clearInterval(timer);
    return Math.round((Math.max(peak, process.memoryUsage().rss) / 1024 / 1024) * 10) / 10;
  };
}

/** Runs `workflows` in this process with one processor and returns the measurements. */
export async function runInProcess(
  backend: string,
  shape: string,
  size: number,
  workflows: Workflow[],
  store: WorkflowStore,
  queue: Queue,
  options: { maxWorkers?: number } = {},
): Promise<CaseResult> {
  const firstTask = new Map<string, number>();
  const registry = new TaskRegistry();
  registry.register('noop', (stage) => {
    if (!firstTask.has(stage.executionId)) firstTask.set(stage.executionId, performance.now());
    return TaskResult.success();
  });
  const processor = new QueueProcessor(queue, { store, taskRegistry: registry, maxWorkers: options.maxWorkers ?? 10 });
  const orchestrator = new Orchestrator(queue, { store });
  const stopRss = rssSampler();
  const started = new Map<string, number>();
  // A running worker, as in production: each workflow is picked up while the next ones are started,
  // so the latency is that of one start, not of the whole start loop.
  processor.start();
  const t0 = performance.now();
  await startAll(workflows, shape, async (w) => {
    started.set(w.id, performance.now());
    await orchestrator.start(w);
  });
  await waitUntilDone(store);
  await processor.stop();
  const seconds = (performance.now() - t0) / 1000;
  const peakRssMb = stopRss();
  const statuses = new Set<string>();
  for (const w of workflows) statuses.add((await store.retrieveWorkflowOnly(w.id)).status);
  const latencies = workflows.map((w) => (firstTask.get(w.id) ?? Number.NaN) - started.get(w.id)!);
  const stages = workflows.reduce((n, w) => n + w.stages.length, 0);
  return {
    backend,
    shape,
    size,
    workers: 1,
    stages,
    seconds: round(seconds, 3),
    stagesPerSecond: Math.round(stages / seconds),
    p50StartLatencyMs: round(percentile(latencies, 50), 2),
    p99StartLatencyMs: round(percentile(latencies, 99), 2),
    peakRssMb,
    status: [...statuses].join(','),
  };
}

/** Concurrent start calls in the throughput cases (several clients). */
const START_CONCURRENCY = 8;

/**
 * Starts the workflows as several clients would: up to START_CONCURRENCY start calls at once, or, for
 * the latency shape, one at a time with a pause in between.
 */
export async function startAll(workflows: Workflow[], shape: string, start: (w: Workflow) => Promise<void>): Promise<void> {
  const spacing = START_SPACING_MS[shape as Shape] ?? 0;
  if (spacing > 0) {
    for (const w of workflows) {
      await start(w);
      await new Promise((r) => setTimeout(r, spacing));
    }
    return;
  }
  let next = 0;
  const client = async () => {
    while (next < workflows.length) await start(workflows[next++]!);
  };
  await Promise.all(Array.from({ length: Math.min(START_CONCURRENCY, workflows.length) }, client));
}



/** Waits until no workflow is NOT_STARTED or RUNNING (the harness polls; the engine does not). */
export async function waitUntilDone(store: WorkflowStore): Promise<void> {
  while ((await store.countWorkflows({ statuses: [WorkflowStatus.NOT_STARTED, WorkflowStatus.RUNNING] })) > 0) await new Promise((r) => setTimeout(r, 5));
}

export const round = (n: number, digits: number) => Math.round(n * 10 ** digits) / 10 ** digits;
