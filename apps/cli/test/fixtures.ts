// Seeds a database with a running, a succeeded and a failed workflow by really running them
// (tasks: `ok` succeeds with outputs, `boom` fails, `wait` polls forever).
import { randomBytes } from 'node:crypto';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { Orchestrator, QueueProcessor, type Queue, type RetryableTask, StageExecution, TaskExecution, TaskRegistry, TaskResult, Workflow, type WorkflowStore } from '../../../packages/core/src/index.js';
import { createPostgresBackend, migrate } from '../../../packages/store-postgres/src/index.js';
import { openSqliteBackend } from '../../../packages/store-sqlite/src/index.js';

/** A database the CLI is pointed at (by URL), which the test also opens directly. */
export interface Target {
  url: string;
  open(): { store: WorkflowStore; queue: Queue; close(): Promise<void> };
  cleanup(): Promise<void>;
}

/** A SQLite file in `dir`. */
export function sqliteTarget(dir: string): Target {
  const url = `sqlite:///${join(dir, 'app.db')}`;
  return { url, open: () => openSqliteBackend(url), cleanup: async () => {} };
}

/** A fresh, migrated schema (named `<prefix>_<random>`) of the PostgreSQL database at `pgUrl`, dropped by `cleanup`. */
export async function pgTarget(pgUrl: string, prefix: string): Promise<Target> {
  const schema = `${prefix}_${randomBytes(5).toString('hex')}`;
  const u = new URL(pgUrl);
  u.searchParams.set('schema', schema);
  const url = u.toString();
  await migrate(url, { schema });
  return {
    url,
    open: () => createPostgresBackend(url, { schema }),
    cleanup: async () => {
      const pg = createRequire(new URL('../../../packages/store-postgres/package.json', import.meta.url))('pg');
      const client = new pg.Client({ connectionString: pgUrl });
      await client.connect();
      await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
      await client.end();
    },
  };
}

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
