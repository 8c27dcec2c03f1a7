// A small CI pipeline: Setup -> {Test, Lint} -> Deploy, on a SQLite file.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Orchestrator, QueueProcessor, StageExecution, TaskExecution, TaskRegistry, TaskResult, Workflow, WorkflowStatus } from '@stabilize/core';
import { SqliteQueue, SqliteWorkflowStore } from '@stabilize/store-sqlite';

const dir = mkdtempSync(join(tmpdir(), 'stabilize-pipeline-'));
const url = join(dir, 'pipeline.db'); // a plain path works as well as sqlite:////abs/path

const registry = new TaskRegistry();
registry.register('setup', () => TaskResult.success({ outputs: { workspace: '/tmp/build', version: '1.4.2' } }));
registry.register('test', (stage) => TaskResult.success({ outputs: { testsPassed: 128, testedVersion: stage.context.version } }));
registry.register('lint', () => TaskResult.success({ outputs: { lintWarnings: 0 } }));
registry.register('deploy', (stage) => {
  const { testsPassed, lintWarnings, version } = stage.context as { testsPassed: number; lintWarnings: number; version: string };
  if (lintWarnings > 0) return TaskResult.terminal('Refusing to deploy with lint warnings');
  return TaskResult.success({ outputs: { deployed: `v${version}`, summary: `${testsPassed} tests passed, ${lintWarnings} lint warnings` } });
});

const stage = (refId: string, name: string, task: string, requisiteStageRefIds: string[] = []) =>
  new StageExecution({ refId, type: task, name, requisiteStageRefIds, tasks: [TaskExecution.create({ name, implementingClass: task })] });

const workflow = Workflow.create({
  application: 'ci',
  name: 'Build and deploy',
  stages: [stage('setup', 'Setup', 'setup'), stage('test', 'Test', 'test', ['setup']), stage('lint', 'Lint', 'lint', ['setup']), stage('deploy', 'Deploy', 'deploy', ['test', 'lint'])],
});

const store = new SqliteWorkflowStore(url, { createTables: true });
const queue = new SqliteQueue(url);
const processor = new QueueProcessor(queue, { store, taskRegistry: registry });
await new Orchestrator(queue, { store }).start(workflow);
await processor.processAll({ timeoutMs: 10_000 });

const result = await store.retrieve(workflow.id);
for (const s of result.stages) console.log(`${s.name.padEnd(8)} ${s.status}`);
console.log(`Workflow: ${result.status}`);
console.log(`Deployed: ${result.stages.find((s) => s.refId === 'deploy')?.outputs.deployed}`);
await store.close();
await queue.close();
rmSync(dir, { recursive: true, force: true });
process.exitCode = result.status === WorkflowStatus.SUCCEEDED ? 0 : 1;
