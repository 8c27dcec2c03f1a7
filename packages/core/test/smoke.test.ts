import { describe, expect, it } from 'vitest';
import { createInMemoryBackend, Orchestrator, QueueProcessor, StageExecution, TaskExecution, TaskRegistry, TaskResult, Workflow, WorkflowStatus, ManualClock } from '../src/index.js';

describe('smoke', () => {
  it('runs a hello workflow', async () => {
    const clock = new ManualClock();
    const { store, queue } = createInMemoryBackend({ clock });
    const registry = new TaskRegistry();
    registry.register('hello', (stage) => TaskResult.success({ outputs: { greeting: `Hello, ${stage.context.name}!` } }));
    const wf = Workflow.create({
      application: 'app', name: 'wf',
      stages: [
        new StageExecution({ refId: '1', type: 'hello', name: 'Say', context: { name: 'S' }, tasks: [TaskExecution.create({ name: 't', implementingClass: 'hello' })] }),
        new StageExecution({ refId: '2', requisiteStageRefIds: ['1'], tasks: [TaskExecution.create({ name: 't', implementingClass: 'hello' })] }),
      ],
    });
    const processor = new QueueProcessor(queue, { store, taskRegistry: registry, clock });
    await store.store(wf);
    await new Orchestrator(queue).start(wf);
    const n = await processor.processAll({ timeoutMs: 5000 });
    const result = await store.retrieve(wf.id);
    expect(result.status).toBe(WorkflowStatus.SUCCEEDED);
    expect(result.stages[0]!.outputs).toEqual({ greeting: 'Hello, S!' });
    expect(result.stages[1]!.context.greeting).toBe('Hello, S!');
    expect(n).toBe(3); // StartWorkflow (starts 1), RunTask 1 (completes 1, starts 2), RunTask 2 (completes 2 and the workflow)
  });
});
