// A simple commit/poll loop against PostgreSQL: W async workers each poll a batch, read the stage,
// and commit {consume delivery, update stage, push the follow-up message} — the shape of a handler.
// Usage: STABILIZE_TEST_PG_URL=postgres://postgres@127.0.0.1:5432/test \
//   pnpm --filter @stabilize/store-postgres bench:commit-poll [seconds] [workers] [batch]
import { randomBytes } from 'node:crypto';
import { Messages, StageExecution, TaskExecution, Transaction, Workflow } from '@stabilize/core';
import pg from 'pg';
import { migrate, PostgresQueue, PostgresWorkflowStore } from '../src/index.js';

const url = process.env.STABILIZE_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const seconds = Number(process.argv[2] ?? 10);
const workers = Number(process.argv[3] ?? 4);
const batch = Number(process.argv[4] ?? 10);
const workflows = 200;

const schema = `bench_${randomBytes(4).toString('hex')}`;
await migrate(url, { schema });
const u = new URL(url);
u.searchParams.set('schema', schema);

async function measure(name: string, body: (store: PostgresWorkflowStore, queue: PostgresQueue, stop: () => boolean) => Promise<number>): Promise<void> {
  const stores = Array.from({ length: workers }, (_, i) => {
    const wu = new URL(u);
    wu.searchParams.set('application_name', `bench-${i}`); // one pool per worker, like separate processes
    return { store: new PostgresWorkflowStore(wu.toString(), { poolSize: 4 }), queue: new PostgresQueue(wu.toString(), { poolSize: 4 }) };
  });
  const started = performance.now();
  const deadline = started + seconds * 1000;
  const counts = await Promise.all(stores.map(({ store, queue }) => body(store, queue, () => performance.now() > deadline)));
  const elapsed = (performance.now() - started) / 1000;
  const total = counts.reduce((a, b) => a + b, 0);
  console.log(JSON.stringify({ case: name, workers, batch, seconds: Number(elapsed.toFixed(1)), operations: total, perSecond: Math.round(total / elapsed) }));
  for (const { store, queue } of stores) {
    await store.close();
    await queue.close();
  }
}

// Seed: workflows with one stage and one task, and one message per workflow circulating forever.
{
  const store = new PostgresWorkflowStore(u.toString());
  const queue = new PostgresQueue(u.toString());
  for (let i = 0; i < workflows; i++) {
    const w = Workflow.create({ application: 'bench', name: `w${i}`, stages: [new StageExecution({ refId: 'a', tasks: [TaskExecution.create({ name: 't', implementingClass: 'x' })] })] });
    await store.store(w);
    await queue.push(Messages.startStage(w.id, w.stages[0]!.id));
  }
  await store.close();
  await queue.close();
}

await measure('handler-commit (poll, retrieveStage, commit{consume, updateStage, push})', async (store, queue, stop) => {
  let n = 0;
  while (!stop()) {
    const deliveries = await queue.poll({ limit: batch, leaseMs: 30_000 });
    if (deliveries.length === 0) {
      await queue.waitForMessages(50);
      continue;
    }
    await Promise.all(
      deliveries.map(async (d) => {
        const m = d.message as { executionId: string; stageId: string };
        const stage = await store.retrieveStage(m.stageId);
        stage.context.count = Number(stage.context.count ?? 0) + 1;
        await store.commit(new Transaction().consume({ deliveryId: d.id, leaseToken: d.leaseToken }).updateStage(stage).push(Messages.startStage(m.executionId, m.stageId)));
        n++;
      }),
    );
  }
  return n;
});

await measure('queue push+poll+ack', async (_store, queue, stop) => {
  let n = 0;
  while (!stop()) {
    await Promise.all(Array.from({ length: batch }, () => queue.push(Messages.startWorkflow('x'))));
    const deliveries = await queue.poll({ limit: batch, leaseMs: 30_000 });
    await Promise.all(deliveries.map((d) => queue.ack(d)));
    n += deliveries.length;
  }
  return n;
});

const admin = new pg.Client({ connectionString: url });
await admin.connect();
await admin.query(`DROP SCHEMA "${schema}" CASCADE`);
await admin.end();
