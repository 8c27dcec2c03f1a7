// `stabilize prompt`: a reference for generating pipeline code with the TypeScript API.
export const PROMPT_TEXT = `# Stabilize: writing workflows in TypeScript (reference for code generation)

Stabilize runs DAGs of stages as a queue-driven state machine persisted in SQLite
(@stabilize/store-sqlite) or PostgreSQL (@stabilize/store-postgres). Every state change commits in
one transaction with the messages that continue the work, so a crashed worker resumes where it was.
ESM only, Node.js 20+. All names are camelCase.

## Vocabulary
- Workflow: one run. Workflow.create({ application, name, stages, context?, trigger? }).
- StageExecution: a node of the DAG. new StageExecution({ refId, type, name, context?, tasks,
  requisiteStageRefIds? }). A stage starts when every stage listed in requisiteStageRefIds has
  finished (joinType 'AND' by default; 'OR' and others exist).
- TaskExecution: a step inside a stage, run in order. TaskExecution.create({ name,
  implementingClass, stageStart?, stageEnd? }). Mark the first task stageStart: true and the last
  stageEnd: true. implementingClass is the name the task was registered under.
- Task: class (or instance, or plain function) with execute(stage, context) returning a TaskResult
  (or a Promise of one). Optional hooks: onTimeout, onCancel, onCleanup.
- TaskResult:
    TaskResult.success({ outputs?, context? })   stage continues; outputs flow to downstream stages
    TaskResult.running({ context? })             poll again later (RetryableTask: getTimeout(),
                                                 getBackoffPeriod?())
    TaskResult.terminal(error, { outputs?, context? })        fails the stage and the workflow
    TaskResult.failedContinue(error, { ... })   fails the stage, the workflow continues
    TaskResult.skipped(), TaskResult.canceled(), TaskResult.stopped()
    TaskResult.suspend({ context? })             waits for a signal (Orchestrator.signal)
    TaskResult.jumpTo(targetStageRefId, { ... }) routes to another stage
- Data flow: stage.context holds the stage's own input; outputs of upstream stages are merged into
  what downstream stages read. Values must be JSON.
- Statuses (WorkflowStatus): NOT_STARTED, RUNNING, PAUSED, SUSPENDED, SUCCEEDED, FAILED_CONTINUE,
  TERMINAL, CANCELED, REDIRECT, STOPPED, SKIPPED, BUFFERED.

## Complete example (SQLite)
\`\`\`ts
import { Workflow, StageExecution, TaskExecution, QueueProcessor, Orchestrator,
         type Task, TaskResult, TaskRegistry, WorkflowStatus } from '@stabilize/core';
import { SqliteWorkflowStore, SqliteQueue } from '@stabilize/store-sqlite';

class HelloTask implements Task {
  execute(stage: StageExecution): TaskResult {
    const name = (stage.context.name as string | undefined) ?? 'World';
    return TaskResult.success({ outputs: { greeting: \`Hello, \${name}!\` } });
  }
}

const workflow = Workflow.create({
  application: 'my-app', name: 'Hello Workflow',
  stages: [
    new StageExecution({
      refId: 'hello', type: 'hello', name: 'Say Hello', context: { name: 'Stabilize' },
      tasks: [TaskExecution.create({ name: 'Hello Task', implementingClass: 'hello',
                                     stageStart: true, stageEnd: true })],
    }),
    new StageExecution({
      refId: 'after', type: 'hello', name: 'Runs after hello', requisiteStageRefIds: ['hello'],
      tasks: [TaskExecution.create({ name: 'Hello again', implementingClass: 'hello',
                                     stageStart: true, stageEnd: true })],
    }),
  ],
});

const store = new SqliteWorkflowStore('sqlite:///app.db', { createTables: true });
const queue = new SqliteQueue('sqlite:///app.db');   // same URL => same connection, atomic outbox
const registry = new TaskRegistry();
registry.register('hello', HelloTask);               // a class, an instance or a plain function
const processor = new QueueProcessor(queue, { store, taskRegistry: registry });
const orchestrator = new Orchestrator(queue, { store });
await orchestrator.start(workflow);                   // stores the workflow and queues its start
await processor.processAll({ timeoutMs: 10_000 });
const result = await store.retrieve(workflow.id);
console.log(result.status === WorkflowStatus.SUCCEEDED, result.stages[0]?.outputs);
\`\`\`

PostgreSQL instead: \`import { createPostgresBackend } from '@stabilize/store-postgres'\`;
\`const { store, queue } = createPostgresBackend('postgres://user:pass@host:5432/db?schema=app')\`,
after applying the migrations once with \`stabilize mg-up --db-url ...\`.
Tests: \`createInMemoryBackend()\` from @stabilize/core returns { store, queue } in memory.

## Operating workflows (Orchestrator)
orchestrator.start(workflow), cancel(id, user?, reason?), pause(id, user?), resume(id),
restart(id, stageId), skipStage(id, stageId), signal(id, stageId, name, data?, { persistent? }).

## Definitions as data
workflowFromDefinition(json) builds a validated Workflow from a strict JSON object:
{ "application", "name", "stages": [{ "refId", "type"?, "name"?, "requisiteStageRefIds"?,
  "context"?, "tasks"?: [{ "name"?, "implementingClass" }] }], "context"?, "trigger"? }.
Unknown fields are rejected. \`stabilize start file.json|file.yaml\` stores such a definition and
queues its start; a worker (QueueProcessor with a TaskRegistry) runs the tasks.

## Built-in tasks
@stabilize/tasks-builtin: Shell, HTTP, Script, Docker, SSH, SubWorkflow, Wait, Approval tasks.

## Rules for generated code
- Register every implementingClass in the TaskRegistry before processing.
- Give every stage a unique refId; requisiteStageRefIds must name existing refIds (no cycles).
- Keep context and outputs JSON-serialisable.
- Tasks must be idempotent: after a crash a task may run again.
- Use the CLI to inspect runs: stabilize list | show <id> | cancel | pause | resume | restart |
  signal | dlq list | dlq replay | monitor.
`;
