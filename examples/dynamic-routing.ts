// Dynamic routing with TaskResult.jumpTo: a stage that loops on itself until the quality is good
// enough, a test stage that sends the flow back to the build once, a router that jumps forward over
// a stage, and a batch task that keeps its progress across transient retries.
//
//   pnpm --filter @stabilize/examples dynamic-routing
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  Orchestrator,
  QueueProcessor,
  StageExecution,
  type Task,
  TaskExecution,
  TaskRegistry,
  TaskResult,
  TransientError,
  Workflow,
  WorkflowStatus,
} from '@stabilize/core';
import { openSqliteBackend } from '@stabilize/store-sqlite';

/** Improves by 15 points per attempt; jumps to its own stage until the quality reaches 80. */
class QualityLoopTask implements Task {
  execute(stage: StageExecution): TaskResult {
    const attempt = (stage.context.attempt as number | undefined) ?? 1;
    const quality = 50 + 15 * attempt;
    console.log(`  quality_loop: attempt ${attempt}, quality ${quality}`);
    if (quality < 80) return TaskResult.jumpTo('quality_loop', { context: { attempt: attempt + 1, last_quality: quality } });
    return TaskResult.success({ outputs: { quality, attempts: attempt } });
  }
}

/** Processes 33 items per run; a rate limit after each batch retries the task with its progress. */
class BatchProcessTask implements Task {
  execute(stage: StageExecution): TaskResult {
    const total = 100;
    const done = (stage.context.processed_count as number | undefined) ?? 0;
    const now = Math.min(total, done + 33);
    console.log(`  batch: processed ${now}/${total}`);
    if (now < total) {
      // `contextUpdate` is stored with the retry; the next attempt starts where this one stopped.
      throw new TransientError('rate limited', { retryAfterMs: 100, contextUpdate: { processed_count: now } });
    }
    return TaskResult.success({ outputs: { processed: now } });
  }
}

const registry = new TaskRegistry();
registry.register('quality_loop', QualityLoopTask);
registry.register('batch', BatchProcessTask);
registry.register('build', (stage) => TaskResult.success({ outputs: { build_fixed: stage.context.fix === true } }));
// The first test run fails and sends the flow back to `build` with a hint; the second one passes.
registry.register('test', (stage) =>
  stage.context.build_fixed ? TaskResult.success({ outputs: { tests: 'passed' } }) : TaskResult.jumpTo('build', { context: { fix: true, retry_reason: 'tests failed' } }),
);
// Chooses a path: a forward jump marks the stages it passes over SKIPPED.
registry.register('router', (stage) => (stage.context.urgent ? TaskResult.jumpTo('fast_path') : TaskResult.success()));
registry.register('step', (stage) => TaskResult.success({ outputs: { [`${stage.refId}_done`]: true } }));

const stage = (refId: string, task: string, requisiteStageRefIds: string[] = [], context: Record<string, unknown> = {}) =>
  new StageExecution({ refId, type: task, name: refId, context, requisiteStageRefIds, tasks: [TaskExecution.create({ name: refId, implementingClass: task })] });

const workflow = Workflow.create({
  application: 'examples',
  name: 'Dynamic routing',
  stages: [
    stage('quality_loop', 'quality_loop'),
    stage('build', 'build', ['quality_loop']),
    stage('test', 'test', ['build']),
    stage('router', 'router', ['test'], { urgent: true }),
    stage('slow_path', 'step', ['router']),
    stage('fast_path', 'step', ['slow_path']),
    stage('batch', 'batch', ['fast_path']),
  ],
});

const dir = mkdtempSync(join(tmpdir(), 'stabilize-routing-'));
const { store, queue, close } = openSqliteBackend(join(dir, 'routing.db'));
const processor = new QueueProcessor(queue, { store, taskRegistry: registry });
await new Orchestrator(queue, { store }).start(workflow);
await processor.processAll({ timeoutMs: 30_000 });

const result = await store.retrieve(workflow.id);
for (const s of result.stages) console.log(`${s.refId.padEnd(13)} ${s.status.padEnd(10)} jumps=${s.context._jump_count ?? 0} ${JSON.stringify(s.outputs)}`);
console.log(`Workflow: ${result.status}`);

const get = (refId: string) => result.stageByRefId(refId)!;
const checks: Array<[string, boolean]> = [
  ['workflow succeeded', result.status === WorkflowStatus.SUCCEEDED],
  ['the loop passed on attempt 2', get('quality_loop').outputs.attempts === 2 && get('quality_loop').outputs.quality === 80],
  ['test sent the flow back to build once', get('build').outputs.build_fixed === true && get('build').context._jump_count === 1],
  ['the forward jump skipped slow_path', get('slow_path').status === WorkflowStatus.SKIPPED && get('fast_path').status === WorkflowStatus.SUCCEEDED],
  ['the batch finished across retries', get('batch').outputs.processed === 100],
];
await close();
rmSync(dir, { recursive: true, force: true });
for (const [what, ok] of checks) if (!ok) console.error(`FAILED: ${what}`);
process.exitCode = checks.every(([, ok]) => ok) ? 0 : 1;
