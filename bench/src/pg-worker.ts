// A benchmark worker process: runs a processor with a no-op task against a PostgreSQL schema until
// it receives SIGTERM. Usage: pg-worker.ts <url> <schema>
import { QueueProcessor, TaskRegistry, TaskResult } from '@stabilize/core';
import { createPostgresBackend } from '@stabilize/store-postgres';

const [url, schema] = process.argv.slice(2) as [string, string];
const { store, queue } = createPostgresBackend(url, { schema, poolSize: 6 });
const registry = new TaskRegistry();
registry.register('noop', () => TaskResult.success());
const processor = new QueueProcessor(queue, { store, taskRegistry: registry, maxWorkers: 16, maxConcurrentTasks: 16, idlePollMs: 200 });
processor.start();
process.stdout.write('ready\n');
process.on('SIGTERM', () => {
  void processor.stop().then(async () => {
    await store.close();
    await queue.close();
    process.exit(0);
  });
});
