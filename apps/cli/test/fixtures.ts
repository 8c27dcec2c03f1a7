// Seeds a database with a running, a succeeded and a failed workflow by really running them
// (tasks: `ok` succeeds with outputs, `boom` fails, `wait` polls forever).
import { Orchestrator, QueueProcessor, type Queue, type RetryableTask, StageExecution, TaskExecution, TaskRegistry, TaskResult, Workflow, type WorkflowStore } from '../../../packages/core/src/index.js';

class WaitTask implements RetryableTask {
  getTimeout(): number {
    return 3_600_000;
  }
  getBackoffPeriod(): number {
    return 60_000;
  }
  execute(): TaskResult {
    return TaskResult.running();
  }
}

export function registry(): TaskRegistry {
  const r = new TaskRegistry();
  r.register('ok', () => TaskResult.success({ outputs: { greeting: 'hello' } }));
  r.register('boom', () => TaskResult.terminal('disk on fire'));
  r.register('wait', WaitTask);
  return r;
}

function wf(application: string, name: string, taskClass: string): Workflow {
  return Workflow.create({
    application,
    name,
    stages: [
      new StageExecution({ refId: 'first', type: 'step', name: 'First', tasks: [TaskExecution.create({ name: 'first task', implementingClass: 'ok', stageStart: true, stageEnd: true })] }),
      new StageExecution({
        refId: 'second',
        type: 'step',
        name: 'Second',
        requisiteStageRefIds: ['first'],
        tasks: [TaskExecution.create({ name: 'second task', implementingClass: taskClass, stageStart: true, stageEnd: true })],
      }),
    ],
  });
}

export interface Seeded {
  running: string;
  succeeded: string;
  failed: string;
}

export async function seed(store: WorkflowStore, queue: Queue): Promise<Seeded> {
  const running = wf('shop', 'Long job', 'wait');
  const succeeded = wf('shop', 'Quick job', 'ok');
  const failed = wf('billing', 'Broken job', 'boom');
  const orchestrator = new Orchestrator(queue, { store });
  for (const w of [running, succeeded, failed]) await orchestrator.start(w);
  await drain(store, queue);
  return { running: running.id, succeeded: succeeded.id, failed: failed.id };
}

/** Processes what is deliverable now (the `wait` task's next poll is a minute away). */
export async function drain(store: WorkflowStore, queue: Queue): Promise<void> {
  const processor = new QueueProcessor(queue, { store, taskRegistry: registry() });
  await processor.processAll({ timeoutMs: 3_000 });
}
