// The Quick Start: one stage, one task, an embedded SQLite database.
import {
  Orchestrator,
  QueueProcessor,
  type StageExecution,
  StageExecution as Stage,
  type Task,
  TaskExecution,
  TaskRegistry,
  TaskResult,
  Workflow,
  WorkflowStatus,
} from '@stabilize/core';
import { SqliteQueue, SqliteWorkflowStore } from '@stabilize/store-sqlite';

class HelloTask implements Task {
  execute(stage: StageExecution): TaskResult {
    const name = (stage.context.name as string | undefined) ?? 'World';
    return TaskResult.success({ outputs: { greeting: `Hello, ${name}!` } });
  }
}

const workflow = Workflow.create({
  application: 'my-app',
  name: 'Hello Workflow',
  stages: [
    new Stage({
      refId: '1',
      type: 'hello',
      name: 'Say Hello',
      context: { name: 'Stabilize' },
      tasks: [TaskExecution.create({ name: 'Hello Task', implementingClass: 'hello', stageStart: true, stageEnd: true })],
    }),
  ],
});

const store = new SqliteWorkflowStore('sqlite::memory:', { createTables: true });
const queue = new SqliteQueue('sqlite::memory:'); // same URL => same connection, atomic outbox
const registry = new TaskRegistry();
registry.register('hello', HelloTask); // a class, an instance or a plain function
const processor = new QueueProcessor(queue, { store, taskRegistry: registry });
const orchestrator = new Orchestrator(queue);

await store.store(workflow);
await orchestrator.start(workflow);
await processor.processAll({ timeoutMs: 10_000 });

const result = await store.retrieve(workflow.id);
console.log(`Workflow status: ${result.status}`);
console.log(`Greeting: ${result.stages[0]?.outputs.greeting}`);
await store.close();
await queue.close();
process.exitCode = result.status === WorkflowStatus.SUCCEEDED ? 0 : 1;
