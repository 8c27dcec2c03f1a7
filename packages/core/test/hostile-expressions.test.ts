// Hostile expressions inside a running workflow (issue 11). The expression language itself is
// covered by test/expressions (safety, limits, 100,000-input fuzz); this pins what the engine does
// with split conditions and `stageEnabled` built to hang or to reach globals: they count as false
// (a condition) or do not skip the stage (`stageEnabled`), quickly, and nothing global changes.
import { describe, expect, it } from 'vitest';
import { createInMemoryBackend, ManualClock, Orchestrator, QueueProcessor, StageExecution, TaskExecution, TaskRegistry, TaskResult, Workflow, WorkflowStatus } from '../src/index.js';

const HOSTILE = [
  "constructor.constructor('return process')()",
  "x.__class__.__bases__[0].__subclasses__()",
  'globalThis.process.exit(1)',
  `${'('.repeat(100_000)}x`,
  `${'not '.repeat(5000)}x`,
  `x == '${'a'.repeat(100_000)}'`,
  `${'a if b else '.repeat(1000)}c`,
  `[${'x,'.repeat(5000)}]`,
  'x.constructor.prototype',
];

describe('hostile expressions in a workflow', () => {
  it('split conditions built to hang or escape count as false; the default branch runs', async () => {
    const clock = new ManualClock();
    const { store, queue } = createInMemoryBackend({ clock });
    const registry = new TaskRegistry().register('ok', () => TaskResult.success({ outputs: { y: 1 } }));
    const task = () => [TaskExecution.create({ name: 'ok', implementingClass: 'ok' })];
    const branches = HOSTILE.map((_, i) => new StageExecution({ refId: `b${i}`, requisiteStageRefIds: ['split'], tasks: task() }));
    const fallback = new StageExecution({ refId: 'fallback', requisiteStageRefIds: ['split'], tasks: task() });
    const split = new StageExecution({
      refId: 'split',
      tasks: task(),
      context: { x: 1 },
      splitType: 'XOR',
      splitConditions: Object.fromEntries(HOSTILE.map((expression, i) => [`b${i}`, expression])),
    });
    const workflow = Workflow.create({ application: 'hostile', name: 'split', stages: [split, ...branches, fallback] });
    const started = performance.now();
    await new Orchestrator(queue, { store, clock }).start(workflow);
    await new QueueProcessor(queue, { store, taskRegistry: registry, clock }).processAll({ timeoutMs: 20_000 });
    expect(performance.now() - started).toBeLessThan(10_000);
    const result = await store.retrieve(workflow.id);
    expect(result.status).toBe(WorkflowStatus.SUCCEEDED);
    expect(result.stageByRefId('fallback')!.status).toBe(WorkflowStatus.SUCCEEDED);
    expect(branches.map((b) => result.stageByRefId(b.refId)!.status)).toEqual(HOSTILE.map(() => WorkflowStatus.SKIPPED));
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('a stageEnabled expression built to hang or escape does not skip the stage', async () => {
    const clock = new ManualClock();
    const { store, queue } = createInMemoryBackend({ clock });
    const registry = new TaskRegistry().register('ok', () => TaskResult.success());
    const stages = HOSTILE.map(
      (expression, i) =>
        new StageExecution({ refId: `s${i}`, context: { stageEnabled: { type: 'expression', expression }, x: 1 }, tasks: [TaskExecution.create({ name: 'ok', implementingClass: 'ok' })] }),
    );
    const workflow = Workflow.create({ application: 'hostile', name: 'enabled', stages });
    await new Orchestrator(queue, { store, clock }).start(workflow);
    await new QueueProcessor(queue, { store, taskRegistry: registry, clock }).processAll({ timeoutMs: 20_000 });
    const result = await store.retrieve(workflow.id);
    expect(result.status).toBe(WorkflowStatus.SUCCEEDED);
    // Each fails to evaluate, so the stage runs; `x.constructor.prototype` evaluates (to nothing: a
    // number has no such keys), which is falsy, so that stage is skipped.
    expect(result.stages.map((s) => s.status)).toEqual(HOSTILE.map((e) => (e === 'x.constructor.prototype' ? WorkflowStatus.SKIPPED : WorkflowStatus.SUCCEEDED)));
    expect(typeof process.exit).toBe('function');
  });
});
