// ShellTask: commands in sequence and in parallel, outputs flowing into later commands through
// {placeholders}, accepted exit codes, a soft failure, and a masked secret. SQLite file database.
//
//   pnpm --filter @stabilize/examples shell
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Context, Orchestrator, QueueProcessor, StageExecution, TaskExecution, TaskRegistry, Workflow, WorkflowStatus } from '@stabilize/core';
import { ShellTask } from '@stabilize/tasks-builtin';
import { openSqliteBackend } from '@stabilize/store-sqlite';

const dir = mkdtempSync(join(tmpdir(), 'stabilize-shell-'));
const { store, queue, close } = openSqliteBackend(join(dir, 'shell.db'));

const registry = new TaskRegistry();
registry.register('shell', ShellTask); // the upstream name; a class gets a new instance per execution

/** A stage that runs one shell command. */
const sh = (refId: string, context: Context, requisiteStageRefIds: string[] = []) =>
  new StageExecution({ refId, type: 'shell', name: refId, context, requisiteStageRefIds, tasks: [TaskExecution.create({ name: refId, implementingClass: 'shell' })] });

const workflow = Workflow.create({
  application: 'examples',
  name: 'Shell commands',
  stages: [
    // {file} and {message} come from the stage context and are shell-quoted when substituted.
    sh('write', { command: 'printf "%s\\n" {message} > {file}', cwd: dir, file: 'note.txt', message: "it's a note; no injection here" }),
    // Only outputs flow downstream (here stdout, stderr, returncode, truncated), not the context of
    // `write`: a stage that needs `file` gets it in its own context.
    sh('read', { command: 'cat {file}', cwd: dir, file: 'note.txt' }, ['write']),
    // Two branches after `read`, running in parallel.
    sh('shout', { command: 'echo {stdout} | tr a-z A-Z' }, ['read']), // {stdout} is `read`'s output
    sh('tools', { command: 'node --version && uname -s' }, ['read']),
    // grep exits 1 when nothing matches; 0 and 1 both count as success here.
    sh('grep', { command: 'grep -c missing {file}', cwd: dir, file: 'note.txt', expected_codes: [0, 1] }, ['shout', 'tools']),
    // A failing command that must not stop the workflow: FAILED_CONTINUE, downstream still runs.
    sh('optional', { command: 'echo "lint warnings" >&2; exit 3', continue_on_failure: true }, ['grep']),
    // Secrets are named by context key; their values are masked in outputs and errors.
    sh('deploy', { command: 'echo "deploying with token={token}"', token: 's3cr3t', secrets: ['token'] }, ['optional']),
  ],
});

const processor = new QueueProcessor(queue, { store, taskRegistry: registry });
await new Orchestrator(queue, { store }).start(workflow);
await processor.processAll({ timeoutMs: 30_000 });

const result = await store.retrieve(workflow.id);
for (const s of result.stages) {
  const out = s.status === WorkflowStatus.SUCCEEDED || s.status === WorkflowStatus.FAILED_CONTINUE ? s.outputs : s.context;
  console.log(`${s.refId.padEnd(9)} ${s.status.padEnd(16)} rc=${String(out.returncode).padEnd(3)} ${JSON.stringify(out.stdout ?? '')}`);
}
console.log(`Workflow: ${result.status}`);

const get = (refId: string) => result.stageByRefId(refId)!;
const checks: Array<[string, boolean]> = [
  ['workflow succeeded', result.status === WorkflowStatus.SUCCEEDED],
  ['read saw the quoted message', get('read').outputs.stdout === "it's a note; no injection here"],
  ['shout received read.stdout', get('shout').outputs.stdout === "IT'S A NOTE; NO INJECTION HERE"],
  ['grep: exit 1 accepted', get('grep').status === WorkflowStatus.SUCCEEDED && get('grep').outputs.returncode === 1],
  ['optional failed softly', get('optional').status === WorkflowStatus.FAILED_CONTINUE && get('optional').outputs.stderr === 'lint warnings'],
  ['token masked', get('deploy').outputs.stdout === 'deploying with token=***'],
];
await close();
rmSync(dir, { recursive: true, force: true });
for (const [what, ok] of checks) if (!ok) console.error(`FAILED: ${what}`);
process.exitCode = checks.every(([, ok]) => ok) ? 0 : 1;
