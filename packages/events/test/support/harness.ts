// A small engine setup with event sourcing on: processor and orchestrator share one recorder.
import { ManualClock, Orchestrator, QueueProcessor, StageExecution, TaskExecution, TaskRegistry, TaskResult, type Workflow } from '@stabilize/core';
import { configureEventSourcing, EventReplayer, type EventSourcingRecorder } from '../../src/index.js';
import type { RawBackend } from './backends.js';

export interface EsHarness {
  backend: RawBackend;
  clock: ManualClock;
  recorder: EventSourcingRecorder;
  registry: TaskRegistry;
  processor: QueueProcessor;
  orchestrator: Orchestrator;
  replayer: EventReplayer;
  run(workflow: Workflow): Promise<Workflow>;
  /** Handles one message at a time until the queue is empty, moving the clock `stepMs` before each. */
  step(stepMs?: number): Promise<number>;
}

export async function esHarness(open: (clock: ManualClock) => RawBackend | Promise<RawBackend>, options: { maxWorkers?: number } = {}): Promise<EsHarness> {
  const clock = new ManualClock();
  const backend = await open(clock);
  const recorder = configureEventSourcing(backend.events, { clock });
  const registry = new TaskRegistry();
  registry.register('success', () => TaskResult.success({ outputs: { ok: true } }));
  registry.register('emit', (stage) => TaskResult.success({ outputs: (stage.context.emit as Record<string, unknown>) ?? {} }));
  registry.register('fail', () => TaskResult.terminal('Task failed intentionally'));
  registry.register('poll', (stage) => {
    const n = ((stage.context.n as number | undefined) ?? 0) + 1;
    return n < 3 ? TaskResult.running({ context: { n } }) : TaskResult.success({ outputs: { polled: n } });
  });
  const processor = new QueueProcessor(backend.queue, { store: backend.store, taskRegistry: registry, clock, recorder, maxWorkers: options.maxWorkers ?? 1 });
  const orchestrator = new Orchestrator(backend.queue, { store: backend.store, clock, recorder });
  return {
    backend,
    clock,
    recorder,
    registry,
    processor,
    orchestrator,
    replayer: new EventReplayer(backend.events),
    async run(workflow) {
      await orchestrator.start(workflow);
      await processor.processAll({ timeoutMs: 20_000 });
      return backend.store.retrieve(workflow.id);
    },
    async step(stepMs = 1000) {
      let n = 0;
      for (;;) {
        clock.advance(stepMs);
        if (await processor.processOne()) {
          n += 1;
          continue;
        }
        const next = await backend.queue.nextDeliveryTime();
        if (next === null) return n;
        if (next > clock.now()) clock.set(next);
      }
    },
  };
}

/** A top-level stage with one task per implementation. */
export function stage(refId: string, implementations: string[], requisiteStageRefIds: string[] = [], context: Record<string, unknown> = {}, type = 'test'): StageExecution {
  return new StageExecution({
    refId,
    type,
    name: refId,
    context,
    requisiteStageRefIds,
    tasks: implementations.map((impl, i) => TaskExecution.create({ name: `${refId}.${impl}`, implementingClass: impl, stageStart: i === 0, stageEnd: i === implementations.length - 1 })),
  });
}
