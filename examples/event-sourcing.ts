// Event sourcing: a CI pipeline on an embedded SQLite file with every state change recorded in the
// same transaction. Prints the audit trail and a timeline, then replays the workflow to an earlier
// point (by event sequence and by time) and checks that replaying everything gives the stored state.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Orchestrator, QueueProcessor, StageExecution, TaskExecution, TaskRegistry, TaskResult, Workflow, WorkflowStatus } from '@stabilize/core';
import { configureEventSourcing, EventReplayer, StageMetricsProjection, WorkflowTimelineProjection, runProjection } from '@stabilize/events';
import { openSqliteBackend, SqliteEventStore } from '@stabilize/store-sqlite';

const dir = mkdtempSync(join(tmpdir(), 'stabilize-events-'));
const file = join(dir, 'events.db');

/** A task that takes `ms` and then succeeds with `outputs`. */
const slow = (ms: number, outputs: (context: Record<string, unknown>) => Record<string, unknown>) => async (stage: StageExecution) => {
  await new Promise((r) => setTimeout(r, ms));
  return TaskResult.success({ outputs: outputs(stage.context) });
};
const registry = new TaskRegistry();
registry.register('setup', slow(30, () => ({ version: '1.4.2' })));
registry.register('test', slow(80, () => ({ testsPassed: 128 })));
registry.register('lint', slow(20, () => ({ lintWarnings: 0 })));
registry.register('deploy', slow(40, (context) => ({ deployed: `v${context.version}` })));

const stage = (refId: string, name: string, task: string, requisiteStageRefIds: string[] = []) =>
  new StageExecution({ refId, type: task, name, requisiteStageRefIds, tasks: [TaskExecution.create({ name, implementingClass: task })] });

const workflow = Workflow.create({
  application: 'ci',
  name: 'Build and deploy',
  stages: [stage('setup', 'Setup', 'setup'), stage('test', 'Test', 'test', ['setup']), stage('lint', 'Lint', 'lint', ['setup']), stage('deploy', 'Deploy', 'deploy', ['test', 'lint'])],
});

const { store, queue, close } = openSqliteBackend(file);
const events = new SqliteEventStore(file); // same file: events commit with the state

// Event sourcing in one line: the recorder for the processor and the orchestrator.
const recorder = configureEventSourcing(events);
recorder.bus.subscribe((e) => console.log(`  [bus] ${e.eventType} ${e.data.ref_id ?? ''}`), { eventTypes: ['stage.completed'] });

console.log('Running (stage completions as the bus publishes them, after each commit):');
await new Orchestrator(queue, { store, recorder }).start(workflow);
await new QueueProcessor(queue, { store, recorder, taskRegistry: registry, maxWorkers: 4 }).processAll({ timeoutMs: 10_000 });
const stored = await store.retrieve(workflow.id);

// 1. The audit trail: what happened, who did it, which message caused it.
const replayer = new EventReplayer(events);
const trail = await replayer.history(workflow.id);
const t0 = trail[0]!.timestamp;
const nameOf = (id: string) => stored.stages.find((s) => s.id === id)?.name ?? stored.stages.find((s) => s.tasks.some((t) => t.id === id))?.tasks.find((t) => t.id === id)?.name ?? 'workflow';
console.log(`\nAudit trail of "${stored.name}" (${trail.length} events; state-only events hidden):`);
for (const e of trail) {
  const status = typeof e.data.status === 'string' ? ` -> ${e.data.status}` : '';
  console.log(`  #${String(e.sequence).padStart(2)}  +${String(e.timestamp - t0).padStart(4)} ms  ${e.eventType.padEnd(19)} ${e.entityType.padEnd(8)} ${nameOf(e.entityId).padEnd(8)}${status}  (${e.sourceHandler ?? e.actor}, message ${e.causationId ?? '-'})`);
}

// 2. A timeline with durations, and metrics per stage type.
const timeline = new WorkflowTimelineProjection(workflow.id);
await runProjection(timeline, events, { workflowId: workflow.id });
const { totalDurationMs, status } = timeline.getState();
console.log(`\nTimeline: ${status} in ${totalDurationMs} ms`);
for (const entry of timeline.getStages().filter((s) => s.durationMs !== null)) {
  const start = entry.timestamp - (entry.durationMs ?? 0) - t0;
  console.log(`  ${(entry.entityName ?? '').padEnd(8)} ${' '.repeat(Math.round(start / 10))}${'#'.repeat(Math.max(1, Math.round((entry.durationMs ?? 0) / 10)))} ${entry.durationMs} ms`);
}
const metrics = new StageMetricsProjection();
await runProjection(metrics, events);
console.log(`  slowest stage type: ${metrics.getTopSlowestStages(1)[0]?.stageType}`);

// 3. Time travel: the workflow as it was when Setup completed, and 50 ms after the start.
const setupDone = trail.find((e) => e.eventType === 'stage.completed' && e.data.ref_id === 'setup')!;
const then = await replayer.rebuildWorkflowState(workflow.id, { asOfSequence: setupDone.sequence });
console.log(`\nAs of event #${setupDone.sequence} (Setup completed): workflow ${then.status}`);
for (const s of then.stages) console.log(`  ${s.name.padEnd(8)} ${s.status.padEnd(11)} outputs ${JSON.stringify(s.outputs)}`);
const early = await replayer.rebuildWorkflowState(workflow.id, { asOfTime: t0 + 50 });
console.log(`As of ${new Date(t0 + 50).toISOString()}: ${early.stages.map((s) => `${s.name} ${s.status}`).join(', ')}`);

// 4. Replaying everything gives exactly what the store holds.
const replayed = await replayer.rebuildWorkflowState(workflow.id);
const same = JSON.stringify(replayed) === JSON.stringify(stored);
console.log(`\nReplayed state equals the stored state: ${same} (workflow ${replayed.status}, deployed ${replayed.stages.at(-1)?.outputs.deployed})`);

await events.close();
await close();
rmSync(dir, { recursive: true, force: true });
process.exitCode = same && stored.status === WorkflowStatus.SUCCEEDED ? 0 : 1;
