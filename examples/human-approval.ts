// Human in the loop: an ApprovalTask suspends its stage until an `approve` or `reject` signal
// arrives. A long-running worker (processor.start()) runs three workflows on one SQLite file:
//   1. approved by alice once the stage waits;
//   2. rejected, with `approval_reject_continues`, so the workflow goes on without deploying;
//   3. approved *before* the stage waits: persistent signals are buffered until it does.
//
//   pnpm --filter @stabilize/examples human-approval
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Orchestrator, QueueProcessor, StageExecution, TaskExecution, TaskRegistry, TaskResult, Workflow, WorkflowStatus } from '@stabilize/core';
import { ApprovalTask, approve, reject } from '@stabilize/tasks-builtin';
import { openSqliteBackend } from '@stabilize/store-sqlite';

const dir = mkdtempSync(join(tmpdir(), 'stabilize-approval-'));
const { store, queue, close } = openSqliteBackend(join(dir, 'approval.db'));

const registry = new TaskRegistry();
registry.register('approval', ApprovalTask); // aliases: human_approval, hitl_approval
registry.register('build', () => TaskResult.success({ outputs: { artifact: 'app-1.4.2.tgz' } }));
// Downstream of the approval stage: `approved` and `approval` (the signal's data) are its outputs.
registry.register('deploy', (stage) => {
  const approval = stage.context.approval as { user?: string } | undefined;
  return TaskResult.success({ outputs: { deployed: stage.context.approved === true, approver: approval?.user ?? null } });
});

function releaseWorkflow(name: string, approvalContext: Record<string, unknown> = {}): Workflow {
  const stage = (refId: string, task: string, requisites: string[], context: Record<string, unknown> = {}) =>
    new StageExecution({ refId, type: task, name: refId, context, requisiteStageRefIds: requisites, tasks: [TaskExecution.create({ name: refId, implementingClass: task })] });
  return Workflow.create({
    application: 'examples',
    name,
    stages: [stage('build', 'build', []), stage('approve', 'approval', ['build'], approvalContext), stage('deploy', 'deploy', ['approve'])],
  });
}

/** Polls the store until the stage `refId` has `status` (a UI or a chat bot would do this). */
async function waitForStage(workflowId: string, refId: string, status: string): Promise<void> {
  for (let i = 0; i < 500; i++) {
    const workflow = await store.retrieve(workflowId);
    if (workflow.stageByRefId(refId)?.status === status) return;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`stage ${refId} of ${workflowId} never reached ${status}`);
}

async function waitForEnd(workflowId: string): Promise<Workflow> {
  for (let i = 0; i < 500 && !(await orchestrator.isFinished(workflowId)); i++) await new Promise((r) => setTimeout(r, 20));
  return store.retrieve(workflowId);
}

const orchestrator = new Orchestrator(queue, { store });
const processor = new QueueProcessor(queue, { store, taskRegistry: registry });
processor.start(); // a long-running worker; stop() below finishes what it is doing

// 1. Approve once the stage is SUSPENDED. The stage is named by refId (looked up in the store).
const first = releaseWorkflow('release approved');
await orchestrator.start(first);
await waitForStage(first.id, 'approve', WorkflowStatus.SUSPENDED);
console.log('1: waiting for approval; alice approves');
await approve(orchestrator, first.id, { refId: 'approve' }, { user: 'alice', comment: 'ship it' });
const approved = await waitForEnd(first.id);

// 2. Reject; with approval_reject_continues the stage ends FAILED_CONTINUE and the flow goes on.
const second = releaseWorkflow('release rejected', { approval_reject_continues: true });
await orchestrator.start(second);
await waitForStage(second.id, 'approve', WorkflowStatus.SUSPENDED);
console.log('2: waiting for approval; bob rejects');
await reject(orchestrator, second.id, { refId: 'approve' }, { user: 'bob', reason: 'change freeze' });
const rejected = await waitForEnd(second.id);

// 3. The signal is sent right after the start, before the stage suspends: it is buffered.
const third = releaseWorkflow('release pre-approved');
await orchestrator.start(third);
await approve(orchestrator, third.id, { refId: 'approve' }, { user: 'carol' });
console.log('3: approved before the stage asked');
const early = await waitForEnd(third.id);

await processor.stop();
for (const w of [approved, rejected, early]) {
  const deploy = w.stageByRefId('deploy')!;
  console.log(`${w.name.padEnd(21)} ${w.status.padEnd(10)} approve=${w.stageByRefId('approve')!.status.padEnd(16)} deploy=${JSON.stringify(deploy.outputs)}`);
}

const checks: Array<[string, boolean]> = [
  ['approved: deployed by alice', approved.status === WorkflowStatus.SUCCEEDED && approved.stageByRefId('deploy')!.outputs.approver === 'alice'],
  ['rejected: FAILED_CONTINUE, not deployed', rejected.stageByRefId('approve')!.status === WorkflowStatus.FAILED_CONTINUE && rejected.stageByRefId('deploy')!.outputs.deployed === false],
  ['rejected: the workflow still completed', rejected.status === WorkflowStatus.SUCCEEDED],
  ['early signal: buffered, then deployed', early.status === WorkflowStatus.SUCCEEDED && early.stageByRefId('deploy')!.outputs.approver === 'carol'],
];
await close();
rmSync(dir, { recursive: true, force: true });
for (const [what, ok] of checks) if (!ok) console.error(`FAILED: ${what}`);
process.exitCode = checks.every(([, ok]) => ok) ? 0 : 1;
