// Rough throughput numbers on a real file (not a test). Run from packages/store-sqlite:
//   node --conditions=@stabilize/source --import tsx test/bench/commit-loop.ts
import { Messages, QueueProcessor, StageExecution, TaskExecution, TaskRegistry, TaskResult, Transaction, Workflow } from '@stabilize/core';
import { openSqliteBackend } from '../../src/index.js';
import { tempDir } from '../support/temp.js';

const dir = tempDir('stabilize-sqlite-bench-');
const { store, queue, close } = openSqliteBackend(dir.file('bench.db'));

const rate = (label: string, n: number, ms: number) => console.log(`${label}: ${n} in ${ms.toFixed(0)} ms = ${Math.round((n / ms) * 1000)}/s`);

try {
  const workflow = Workflow.create({
    application: 'bench',
    name: 'bench',
    stages: [new StageExecution({ refId: 'a', context: { some: 'context', list: [1, 2, 3] }, tasks: [TaskExecution.create({ name: 't1', implementingClass: 'x' }), TaskExecution.create({ name: 't2', implementingClass: 'x' })] })],
  });
  await store.store(workflow);

  // 1. Stage update (version CAS + 2 task upserts) plus one pushed message per commit.
  let stage = await store.retrieveStage(workflow.stages[0]!.id);
  const N = 10_000;
  let start = performance.now();
  for (let i = 0; i < N; i++) {
    stage.context.i = i;
    await store.commit(new Transaction().updateStage(stage).push(Messages.completeStage(workflow.id, stage.id)));
  }
  rate('commit (stage update + push)', N, performance.now() - start);

  // 2. A handler step: poll one, read the stage, commit (consume + stage update + push the next).
  start = performance.now();
  let steps = 0;
  for (;;) {
    const [delivery] = await queue.poll({ limit: 1, leaseMs: 60_000 });
    if (!delivery) break;
    stage = await store.retrieveStage(stage.id);
    stage.context.step = steps;
    const tx = new Transaction().consume({ deliveryId: delivery.id, leaseToken: delivery.leaseToken }).updateStage(stage);
    if (steps < N) tx.push(Messages.completeStage(workflow.id, stage.id));
    await store.commit(tx);
    steps++;
    if (steps >= N) break;
  }
  rate('poll + retrieveStage + commit(consume, update, push)', steps, performance.now() - start);
  while ((await queue.poll({ limit: 100, leaseMs: 1 })).length > 0) {}
  await store.database.exec('DELETE FROM queue_messages');

  // 3. The whole engine: a 200-stage chain through QueueProcessor.
  const registry = new TaskRegistry();
  registry.register('noop', () => TaskResult.success({ outputs: { ok: true } }));
  const chain = Workflow.create({
    application: 'bench',
    name: 'chain',
    stages: Array.from({ length: 200 }, (_, i) => new StageExecution({ refId: `s${i}`, requisiteStageRefIds: i === 0 ? [] : [`s${i - 1}`], tasks: [TaskExecution.create({ name: 't', implementingClass: 'noop' })] })),
  });
  const processor = new QueueProcessor(queue, { store, taskRegistry: registry });
  await store.store(chain);
  await queue.push(Messages.startWorkflow(chain.id));
  start = performance.now();
  const handled = await processor.processAll({ timeoutMs: 120_000 });
  const ms = performance.now() - start;
  rate('QueueProcessor messages (200-stage chain)', handled, ms);
  rate('QueueProcessor stages', 200, ms);
  console.log('workflow status:', (await store.retrieveWorkflowOnly(chain.id)).status);
} finally {
  await close();
  dir.remove();
}
