// A CI/CD pipeline with real commands on a small Node project it creates in a temporary folder:
//
//   checkout ─► build ─┬─► unit_tests ─┬─► package ─► publish ─► deploy
//                      └─► lint ───────┘
//
// lint fails softly (continuePipelineOnFailure), publish survives a flaky registry (TransientError
// retries), and deploy only runs for the main branch (a stageEnabled expression). SQLite file.
//
//   pnpm --filter @stabilize/examples ci-cd-pipeline [branch]
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Context, Orchestrator, QueueProcessor, StageExecution, TaskExecution, TaskRegistry, TaskResult, TransientError, Workflow, WorkflowStatus } from '@stabilize/core';
import { ShellTask } from '@stabilize/tasks-builtin';
import { openSqliteBackend } from '@stabilize/store-sqlite';

const branch = process.argv[2] ?? 'main';
const work = mkdtempSync(join(tmpdir(), 'stabilize-cicd-'));
const repo = join(work, 'repo');

const registry = new TaskRegistry();
registry.register('shell', ShellTask);
// A registry that is busy twice: the engine retries after `retryAfterMs`, up to 10 attempts.
let uploads = 0;
registry.register('publish', (stage, { attempt }) => {
  uploads++;
  if (attempt < 3) throw new TransientError(`registry busy (attempt ${attempt})`, { retryAfterMs: 100 });
  return TaskResult.success({ outputs: { published: `${stage.context.name}@${stage.context.version}`, attempts: attempt } });
});
registry.register('deploy', (stage) => TaskResult.success({ outputs: { deployed: stage.context.published, environment: 'production' } }));

const stage = (refId: string, task: string, context: Context, requisiteStageRefIds: string[] = []) =>
  new StageExecution({ refId, type: task, name: refId, context, requisiteStageRefIds, tasks: [TaskExecution.create({ name: refId, implementingClass: task })] });
const sh = (refId: string, command: string, context: Context, requisites: string[] = []) => stage(refId, 'shell', { command, cwd: repo, ...context }, requisites);

// The "checkout": writes a tiny project (a module, its test, and one leftover console.log).
const checkout = [
  'mkdir -p src test',
  `printf '%s\\n' 'export const add = (a, b) => a + b;' 'console.log("debug");' > src/math.js`,
  `printf '%s\\n' "import { test } from 'node:test';" "import assert from 'node:assert';" "import { add } from '../src/math.js';" "test('add', () => assert.equal(add(2, 3), 5));" > test/math.test.js`,
  `printf '{"name":"calc","version":"1.0.%s","type":"module"}\\n' {build_number} > package.json`,
  'node -p "require(\'./package.json\').version"',
].join(' && ');

const workflow = Workflow.create({
  application: 'ci',
  name: `calc pipeline (${branch})`,
  trigger: { type: 'push', user: 'ci-bot', parameters: { branch } },
  stages: [
    stage('checkout', 'shell', { command: `mkdir -p ${repo} && cd ${repo} && ${checkout}`, build_number: 42 }),
    sh('build', 'node --check src/math.js && mkdir -p dist && cp src/*.js dist/ && ls dist', {}, ['checkout']),
    sh('unit_tests', 'node --test test/', { stageTimeoutMs: 60_000 }, ['build']),
    // grep finds the leftover console.log: exit 0 here means "found", which the lint turns into a failure.
    sh('lint', '! grep -n "console.log" src/*.js', { continuePipelineOnFailure: true }, ['build']),
    sh('package', 'tar czf calc.tgz dist package.json && echo calc.tgz', {}, ['unit_tests', 'lint']),
    stage('publish', 'publish', { name: 'calc', version: '1.0.42' }, ['package']),
    // Skipped unless the branch is main: the expression sees this stage's context.
    stage('deploy', 'deploy', { branch, stageEnabled: { type: 'expression', expression: "branch == 'main'" } }, ['publish']),
  ],
});

const { store, queue, close } = openSqliteBackend(join(work, 'ci.db'));
const processor = new QueueProcessor(queue, { store, taskRegistry: registry });
await new Orchestrator(queue, { store }).start(workflow);
await processor.processAll({ timeoutMs: 60_000 });

const result = await store.retrieve(workflow.id);
for (const s of result.stages) {
  const lines = String(s.outputs.stdout ?? s.outputs.published ?? s.outputs.deployed ?? s.context.error ?? '').split('\n');
  console.log(`${s.refId.padEnd(11)} ${s.status.padEnd(16)} ${lines[0]}${lines.length > 1 ? ` (+${lines.length - 1} lines)` : ''}`);
}
console.log(`Workflow: ${result.status}`);

const get = (refId: string) => result.stageByRefId(refId)!;
const checks: Array<[string, boolean]> = [
  ['workflow succeeded', result.status === WorkflowStatus.SUCCEEDED],
  ['checkout printed the version', get('checkout').outputs.stdout === '1.0.42'],
  ['tests passed', get('unit_tests').status === WorkflowStatus.SUCCEEDED],
  ['lint failed softly', get('lint').status === WorkflowStatus.FAILED_CONTINUE && String(get('lint').context.error).includes('exited with code 1')],
  ['package built', existsSync(join(repo, 'calc.tgz'))],
  ['publish retried twice', get('publish').outputs.attempts === 3 && uploads === 3],
  [
    branch === 'main' ? 'deployed' : 'deploy skipped',
    branch === 'main' ? get('deploy').outputs.deployed === 'calc@1.0.42' : get('deploy').status === WorkflowStatus.SKIPPED,
  ],
];
await close();
rmSync(work, { recursive: true, force: true });
for (const [what, ok] of checks) if (!ok) console.error(`FAILED: ${what}`);
process.exitCode = checks.every(([, ok]) => ok) ? 0 : 1;
