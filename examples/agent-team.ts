// An agent team as a workflow: an architect plans, three coders work in parallel, a gather stage
// joins them with output reducers, a reviewer sends the plan back once with feedback, a human
// approves, and the result is packaged. The "agents" are offline stubs (deterministic, no network), so the example
// shows the orchestration: fan-out, fan-in with reducers, a bounded review loop, an approval.
//
//   pnpm --filter @stabilize/examples agent-team
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Orchestrator, QueueProcessor, StageExecution, type StageExecutionInit, TaskExecution, TaskRegistry, TaskResult, Workflow, WorkflowStatus } from '@stabilize/core';
import { ApprovalTask, approve } from '@stabilize/tasks-builtin';
import { openSqliteBackend } from '@stabilize/store-sqlite';

const MODULES = ['parser', 'renderer', 'cli'];

const registry = new TaskRegistry();
registry.register('approval', ApprovalTask);

// The architect splits the goal into one module per coder. Review feedback (put in its context by
// the reviewer's jump) is passed on to the coders through its outputs.
registry.register('architect', (stage) =>
  TaskResult.success({ outputs: { plan: MODULES.map((name) => `${name}: ${stage.context.goal}`), feedback: stage.context.review_feedback ?? null } }),
);

// A coder writes its module; when the feedback names it, it writes a better version.
registry.register('coder', (stage) => {
  const name = MODULES[stage.context.module_index as number]!;
  const revised = typeof stage.context.feedback === 'string' && stage.context.feedback.includes(name);
  const lines = 40 + name.length * 3 + (revised ? 12 : 0);
  return TaskResult.success({
    outputs: { written: [`src/${name}.ts`], module_name: name, lines, tokens: lines * 30, [`${name}_tests`]: revised || name !== 'renderer' },
  });
});

// The join: `written` and `module_name` are collected from every coder, `lines` and `tokens` summed
// (the reducers, declared on the stage, replace the default merge for those keys).
registry.register('gather', (stage) =>
  TaskResult.success({ outputs: { files: stage.context.written, modules: stage.context.module_name, total_lines: stage.context.lines, total_tokens: stage.context.tokens } }),
);

// The reviewer finds modules without tests and sends the work back to the architect, at most
// twice. Jumping back to the start of the fan-out re-runs the coders and the gather stage.
registry.register('review', (stage) => {
  const untested = MODULES.filter((name) => stage.context[`${name}_tests`] !== true);
  const reviews = ((stage.context._jump_count as number | undefined) ?? 0) + 1;
  if (untested.length > 0 && reviews <= (stage.context.max_review_attempts as number)) {
    console.log(`  review ${reviews}: no tests in ${untested.join(', ')}, back to the architect`);
    return TaskResult.jumpTo('architect', { context: { review_feedback: `add tests to ${untested.join(', ')}` } });
  }
  console.log(`  review ${reviews}: ${untested.length === 0 ? 'approved' : `giving up on ${untested.join(', ')}`}`);
  return untested.length === 0 ? TaskResult.success({ outputs: { review: 'passed', reviews } }) : TaskResult.terminal(`untested modules: ${untested.join(', ')}`);
});

registry.register('package', (stage) =>
  TaskResult.success({ outputs: { bundle: `release-${(stage.context.modules as string[]).length}-modules.tgz`, approved_by: (stage.context.approval as { user: string }).user } }),
);

const stage = (refId: string, task: string, requisiteStageRefIds: string[], extra: Partial<StageExecutionInit> = {}) =>
  new StageExecution({ refId, type: task, name: refId, requisiteStageRefIds, tasks: [TaskExecution.create({ name: refId, implementingClass: task })], ...extra });

const coders = MODULES.map((_, i) => stage(`code_${i}`, 'coder', ['architect'], { context: { module_index: i } }));
const workflow = Workflow.create({
  application: 'examples',
  name: 'Agent team',
  stages: [
    stage('architect', 'architect', [], { context: { goal: 'a markdown to HTML converter' } }),
    ...coders,
    stage(
      'gather',
      'gather',
      coders.map((c) => c.refId),
      { outputReducers: { written: 'collect', module_name: 'collect', lines: 'sum', tokens: 'sum' } },
    ),
    stage('review', 'review', ['gather'], { context: { max_review_attempts: 2 } }),
    stage('approve', 'approval', ['review']),
    stage('package', 'package', ['approve']),
  ],
});

const dir = mkdtempSync(join(tmpdir(), 'stabilize-agent-team-'));
const { store, queue, close } = openSqliteBackend(join(dir, 'team.db'));
const orchestrator = new Orchestrator(queue, { store });
const processor = new QueueProcessor(queue, { store, taskRegistry: registry, maxConcurrentTasks: 3 });
await orchestrator.start(workflow);
// The human approves up front here; the signal waits in the stage until it asks.
await approve(orchestrator, workflow.id, { refId: 'approve' }, { user: 'lead' });
await processor.processAll({ timeoutMs: 30_000 });

const result = await store.retrieve(workflow.id);
for (const s of result.stages) console.log(`${s.refId.padEnd(10)} ${s.status.padEnd(10)} ${JSON.stringify(s.outputs)}`);
console.log(`Workflow: ${result.status}`);

const gather = result.stageByRefId('gather')!.outputs;
const checks: Array<[string, boolean]> = [
  ['workflow succeeded', result.status === WorkflowStatus.SUCCEEDED],
  ['files collected from every coder', JSON.stringify([...(gather.files as string[])].sort()) === JSON.stringify(['src/cli.ts', 'src/parser.ts', 'src/renderer.ts'])],
  ['lines summed', gather.total_lines === result.stages.filter((s) => s.type === 'coder').reduce((n, s) => n + (s.outputs.lines as number), 0)],
  ['one review round trip', result.stageByRefId('review')!.outputs.reviews === 2],
  ['packaged after approval', result.stageByRefId('package')!.outputs.approved_by === 'lead'],
];
await close();
rmSync(dir, { recursive: true, force: true });
for (const [what, ok] of checks) if (!ok) console.error(`FAILED: ${what}`);
process.exitCode = checks.every(([, ok]) => ok) ? 0 : 1;
