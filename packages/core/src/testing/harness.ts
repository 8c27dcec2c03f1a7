import { ManualClock } from '../clock.js';
import { StageDefinitionBuilderFactory } from '../builders/stage-definition-builder.js';
import type { HandlerConfig } from '../handlers/config.js';
import { StageExecution, type StageExecutionInit } from '../model/stage-execution.js';
import { TaskExecution } from '../model/task-execution.js';
import type { Workflow } from '../model/workflow.js';
import { Orchestrator } from '../orchestrator.js';
import { QueueProcessor, type QueueProcessorOptions } from '../processor/queue-processor.js';
import { TaskRegistry } from '../task/registry.js';
import { TaskResult } from '../task/task-result.js';
import type { BackendFactory, BackendUnderTest } from './backend.js';

/** A backend plus everything needed to run workflows against it in a test. */
export interface Harness extends BackendUnderTest {
  clock: ManualClock;
  registry: TaskRegistry;
  builders: StageDefinitionBuilderFactory;
  processor: QueueProcessor;
  orchestrator: Orchestrator;
  /** Stage context snapshots recorded by the `echo` task, keyed by stage refId. */
  echoed: Map<string, Record<string, unknown>>;
  /** Executions per stage refId, in order of execution. */
  executions: string[];
  /** Stores and starts `workflow`, drains the queue, returns the stored result. */
  run(workflow: Workflow, options?: { timeoutMs?: number }): Promise<Workflow>;
  /** Drains the queue. */
  drain(timeoutMs?: number): Promise<number>;
  newProcessor(options?: Partial<QueueProcessorOptions>): QueueProcessor;
}

export async function createHarness(factory: BackendFactory, options: { handlerConfig?: Partial<HandlerConfig>; maxWorkers?: number } = {}): Promise<Harness> {
  const clock = new ManualClock();
  const backend = await factory.create(clock);
  const registry = new TaskRegistry();
  const builders = new StageDefinitionBuilderFactory();
  const echoed = new Map<string, Record<string, unknown>>();
  const executions: string[] = [];
  registerScenarioTasks(registry, echoed, executions);
  const newProcessor = (extra: Partial<QueueProcessorOptions> = {}) =>
    new QueueProcessor(backend.queue, {
      store: backend.store,
      taskRegistry: registry,
      builders,
      clock,
      handlerConfig: options.handlerConfig,
      maxWorkers: options.maxWorkers ?? 1,
      maxConcurrentTasks: options.maxWorkers ?? 4,
      ...extra,
    });
  const processor = newProcessor();
  const orchestrator = new Orchestrator(backend.queue, { store: backend.store, clock });
  const drain = (timeoutMs = 20_000) => processor.processAll({ timeoutMs });
  return {
    ...backend,
    clock,
    registry,
    builders,
    processor,
    orchestrator,
    echoed,
    executions,
    drain,
    newProcessor,
    async run(workflow, runOptions = {}) {
      await orchestrator.start(workflow);
      await drain(runOptions.timeoutMs);
      return backend.store.retrieve(workflow.id);
    },
  };
}

/**
 * The task vocabulary of engine.md §14: success, fail, counter, emit, echo, fc, poll(k), plus a few
 * helpers. Every execution is appended to `executions` as the stage refId.
 */
function registerScenarioTasks(registry: TaskRegistry, echoed: Map<string, Record<string, unknown>>, executions: string[]): void {
  let counter = 0;
  const track = (stage: StageExecution) => executions.push(stage.refId);
  registry.register('success', (stage) => {
    track(stage);
    return TaskResult.success({ outputs: { success: true } });
  });
  registry.register('fail', (stage) => {
    track(stage);
    return TaskResult.terminal('Task failed intentionally');
  });
  registry.register('counter', (stage) => {
    track(stage);
    counter += 1;
    return TaskResult.success({ outputs: { count: counter } });
  });
  registry.register('emit', async (stage) => {
    track(stage);
    const delay = stage.context.delayMs;
    if (typeof delay === 'number') await new Promise((r) => setTimeout(r, delay));
    return TaskResult.success({ outputs: (stage.context.emit as Record<string, unknown>) ?? {} });
  });
  registry.register('echo', (stage) => {
    track(stage);
    echoed.set(stage.refId, structuredClone(stage.context));
    return TaskResult.success();
  });
  registry.register('fc', (stage) => {
    track(stage);
    return TaskResult.failedContinue('soft');
  });
  registry.register('poll', (stage) => {
    track(stage);
    const k = (stage.context.pollTimes as number | undefined) ?? 3;
    const m = ((stage.context.n as number | undefined) ?? 0) + 1;
    return m < k ? TaskResult.running({ context: { n: m } }) : TaskResult.success({ outputs: { polled: m } });
  });
  registry.register('throw', (stage) => {
    track(stage);
    throw new Error('plain failure');
  });
}

/** `S(ref, [impls], req, ctx)` of engine.md §14: a top-level stage with one task per implementation. */
export function S(refId: string, implementations: string[], requisiteStageRefIds: string[] = [], context: Record<string, unknown> = {}, extra: Partial<StageExecutionInit> = {}): StageExecution {
  return new StageExecution({
    refId,
    type: extra.type ?? 'test',
    name: extra.name ?? refId,
    context,
    requisiteStageRefIds,
    tasks: implementations.map((impl, i) => TaskExecution.create({ name: `${refId}.${i + 1} ${impl}`, implementingClass: impl, stageStart: i === 0, stageEnd: i === implementations.length - 1 })),
    ...extra,
  });
}

export function stageOf(workflow: Workflow, refId: string): StageExecution {
  const stage = workflow.stages.find((s) => s.refId === refId);
  if (!stage) throw new Error(`no stage ${refId}`);
  return stage;
}
