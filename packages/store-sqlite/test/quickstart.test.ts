import { spawnSync } from 'node:child_process';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Orchestrator, QueueProcessor, StageExecution, TaskExecution, TaskRegistry, TaskResult, Workflow, WorkflowStatus } from '@stabilize/core';
import { describe, expect, it } from 'vitest';
import { SqliteQueue, SqliteWorkflowStore } from '../src/index.js';

const PACKAGE_DIR = fileURLToPath(new URL('..', import.meta.url));

describe('Quick Start', () => {
  it('runs a workflow on sqlite::memory: through QueueProcessor', async () => {
    const registry = new TaskRegistry();
    registry.register('hello', (stage) => TaskResult.success({ outputs: { greeting: `Hello, ${stage.context.name ?? 'World'}!` } }));
    const workflow = Workflow.create({
      application: 'my-app',
      name: 'Hello Workflow',
      stages: [
        new StageExecution({
          refId: '1',
          type: 'hello',
          name: 'Say Hello',
          context: { name: 'Stabilize' },
          tasks: [TaskExecution.create({ name: 'Hello Task', implementingClass: 'hello', stageStart: true, stageEnd: true })],
        }),
        new StageExecution({ refId: '2', requisiteStageRefIds: ['1'], tasks: [TaskExecution.create({ name: 'Again', implementingClass: 'hello' })] }),
      ],
    });
    const store = new SqliteWorkflowStore('sqlite::memory:', { createTables: true });
    const queue = new SqliteQueue('sqlite::memory:');
    try {
      const processor = new QueueProcessor(queue, { store, taskRegistry: registry });
      await new Orchestrator(queue, { store }).start(workflow);
      const handled = await processor.processAll({ timeoutMs: 10_000 });
      const result = await store.retrieve(workflow.id);
      expect(result.status).toBe(WorkflowStatus.SUCCEEDED);
      expect(result.stages[0]!.outputs).toEqual({ greeting: 'Hello, Stabilize!' });
      expect(result.stages[1]!.context.greeting).toBe('Hello, Stabilize!');
      expect(handled).toBeGreaterThan(0);
      expect(await queue.size()).toBe(0);
    } finally {
      await queue.close();
      await store.close();
    }
  });

  it('the README example runs as written', () => {
    const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
    const code = /## Quick Start\s+```ts\n([\s\S]*?)```/.exec(readme)?.[1];
    expect(code).toBeDefined();
    // Inside the package, so `@stabilize/store-sqlite` resolves to this package (self-reference).
    const script = fileURLToPath(new URL(`./.readme-quickstart-${process.pid}.ts`, import.meta.url));
    writeFileSync(script, code!);
    try {
      const run = spawnSync(process.execPath, ['--conditions=@stabilize/source', '--import', 'tsx', script], { cwd: PACKAGE_DIR, encoding: 'utf8', timeout: 30_000 });
      expect(run.stderr).toBe('');
      expect(run.status).toBe(0);
      expect(run.stdout).toBe("SUCCEEDED\n{ greeting: 'Hello, Stabilize!' }\n");
    } finally {
      rmSync(script, { force: true });
    }
  }, 30_000);
});
