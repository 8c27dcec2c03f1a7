import { ManualClock, Messages, QueueProcessor, StageExecution, TaskExecution, TaskRegistry, WorkflowStatus } from '@stabilize/core';
import { describe, expect, it } from 'vitest';
import { approve, getSignal, installCancelHooks, reject, registerBuiltinTasks, sendSignal, SubWorkflowTask } from '../src/index.js';
import { createEngine, runTask, stage, workflow } from './helpers.js';

/** Handles messages one at a time until none is deliverable (delayed ones wait for the clock). */
async function drainDeliverable(processor: QueueProcessor, max = 500): Promise<number> {
  let n = 0;
  while (n < max && (await processor.processOne())) n++;
  return n;
}

const shellStage = (refId: string, command: string, requisiteStageRefIds: string[] = []) => ({ refId, requisiteStageRefIds, context: { command }, tasks: [{ implementingClass: 'shell' }] });

describe('SubWorkflowTask (§8 scenario 43)', () => {
  it('runs a two-stage child and returns its status and outputs', async () => {
    const engine = createEngine();
    const s = await runTask(
      'sub_workflow',
      { _sub_workflow_config: { name: 'child', stages: [shellStage('c1', 'echo one'), shellStage('c2', 'echo {stdout} two', ['c1'])] } },
      engine,
    );
    expect(s.status).toBe(WorkflowStatus.SUCCEEDED);
    expect(s.outputs.sub_workflow_status).toBe('SUCCEEDED');
    expect((s.outputs.sub_workflow_outputs as { stdout: string }).stdout).toBe('one two');
    const child = await engine.store.retrieve(String(s.outputs.sub_workflow_id));
    expect(child.name).toBe('child');
    expect(child.context).toMatchObject({ _recursion_depth: 1, _max_recursion_depth: 10, _parent_workflow_id: s.executionId });
    expect(child.stageByRefId('c1')!.context._recursion_depth).toBe(1);
  });

  it('fails at the depth limit, without a config, and when the child fails', async () => {
    const deep = await runTask('subWorkflow', { _recursion_depth: 10, _sub_workflow_config: { stages: [shellStage('c', 'true')] } });
    expect(deep.context.error).toBe('Maximum recursion depth (10) exceeded');
    const none = await runTask('childWorkflow', {});
    expect(none.context.error).toBe('No _sub_workflow_config in context');
    const failed = await runTask('sub_workflow', { _sub_workflow_config: { stages: [shellStage('c', 'exit 3')] } });
    expect(failed.status).toBe(WorkflowStatus.TERMINAL);
    expect(failed.context.error).toBe('Child workflow failed with status TERMINAL');
    expect(failed.context.sub_workflow_status).toBe('TERMINAL');
  });

  it('without a store and queue it says so', async () => {
    const engine = createEngine();
    engine.registry.register('sub_workflow', new SubWorkflowTask());
    const s = await runTask('sub_workflow', { _sub_workflow_config: { stages: [shellStage('c', 'true')] } }, engine);
    expect(s.context.error).toBe('No Orchestrator instance available for sub-workflow');
  });

  it('a build callback can create the child; starting twice for one task run starts one child', async () => {
    const clock = new ManualClock();
    const engine = createEngine({ clock, tasks: { subWorkflow: { build: () => ({ stages: [new StageExecution({ refId: 'b', context: { command: 'echo built' }, tasks: [TaskExecution.create({ name: 't', implementingClass: 'shell' })] })] }) } } });
    const s = await runTask('sub_workflow', {}, engine);
    expect((s.outputs.sub_workflow_outputs as { stdout: string }).stdout).toBe('built');

    const task = engine.registry.get('sub_workflow');
    const parent = new StageExecution({ refId: 'p', executionId: 'parent-wf', context: { _sub_workflow_config: { stages: [shellStage('c', 'true')] } }, tasks: [TaskExecution.create({ name: 't', implementingClass: 'sub_workflow', startTime: 5 })] });
    const ctx = { signal: new AbortController().signal, attempt: 1, clock, workflowId: 'parent-wf', taskId: parent.tasks[0]!.id };
    const before = await engine.store.countWorkflows({ application: 'stabilize' });
    const first = await task.execute(parent, ctx);
    const second = await task.execute(parent, ctx);
    expect(first.status).toBe(WorkflowStatus.RUNNING);
    expect(first.context._sub_workflow_id).toBe(second.context._sub_workflow_id);
    expect(await engine.store.countWorkflows({ application: 'stabilize' })).toBe(before + 1);
  });

  it('canceling the parent cancels the child (onCancel through installCancelHooks)', async () => {
    const engine = createEngine();
    installCancelHooks(engine.processor);
    const wf = workflow(stage({ refId: 'parent', task: 'sub_workflow', context: { _sub_workflow_config: { stages: [{ refId: 'w', context: { waitTime: 3600 }, tasks: [{ implementingClass: 'wait' }] }] } } }));
    await engine.orchestrator.start(wf);
    await drainDeliverable(engine.processor);
    const parentStage = (await engine.store.retrieve(wf.id)).stageByRefId('parent')!;
    const childId = String(parentStage.context._sub_workflow_id);
    expect((await engine.store.retrieveWorkflowOnly(childId)).status).toBe(WorkflowStatus.RUNNING);

    await engine.orchestrator.cancel(wf.id, 'tester', 'stop everything');
    await engine.processor.processAll({ timeoutMs: 10_000 });
    expect((await engine.store.retrieveWorkflowOnly(wf.id)).status).toBe(WorkflowStatus.CANCELED);
    const child = await engine.store.retrieve(childId);
    expect(child.status).toBe(WorkflowStatus.CANCELED);
    expect(child.canceledBy).toBe(`parent:${wf.id}`);
    expect(child.stageByRefId('w')!.status).toBe(WorkflowStatus.CANCELED);
  });
});

describe('WaitTask and NoOpTask', () => {
  it('waits the full time with a single extra poll: the backoff is the time left', async () => {
    const zero = createEngine();
    await runTask('wait', { waitTime: 0 }, zero);
    const baseline = zero.processor.processedCount;

    const clock = new ManualClock();
    const engine = createEngine({ clock });
    const begin = clock.now();
    const s = await runTask('wait', { waitTime: 3600 }, engine);
    expect(s.status).toBe(WorkflowStatus.SUCCEEDED);
    expect(s.outputs.waitedSeconds).toBe(3600);
    expect(clock.now() - begin).toBe(3_600_000);
    expect(engine.processor.processedCount).toBe(baseline + 1);
    expect(s.context.waitStartTime).toBe(s.tasks[0]!.startTime! / 1000);
  });

  it('is durable: a new worker and an early redelivery keep the original deadline', async () => {
    const clock = new ManualClock();
    const engine = createEngine({ clock });
    const wf = workflow(stage({ refId: 'w', task: 'wait', context: { waitTime: 600 } }));
    await engine.orchestrator.start(wf);
    await drainDeliverable(engine.processor);
    const waiting = (await engine.store.retrieve(wf.id)).stageByRefId('w')!;
    const start = waiting.tasks[0]!.startTime!;
    expect(waiting.status).toBe(WorkflowStatus.RUNNING);
    expect(waiting.context.waitStartTime).toBe(start / 1000);

    // The worker "restarts": a fresh registry and processor over the same store and queue.
    const registry = registerBuiltinTasks(new TaskRegistry(), { store: engine.store, queue: engine.queue });
    const restarted = new QueueProcessor(engine.queue, { store: engine.store, taskRegistry: registry, clock });
    clock.advance(300_000);
    await engine.queue.push(Messages.runTask(wf.id, waiting.id, waiting.tasks[0]!.id, 'wait')); // an early duplicate
    await drainDeliverable(restarted);
    expect((await engine.store.retrieve(wf.id)).stageByRefId('w')!.status).toBe(WorkflowStatus.RUNNING);
    await restarted.processAll({ timeoutMs: 10_000 });
    const done = (await engine.store.retrieve(wf.id)).stageByRefId('w')!;
    expect(done.status).toBe(WorkflowStatus.SUCCEEDED);
    expect(done.outputs.waitedSeconds).toBe(600);
    expect(clock.now() - start).toBe(600_000);
  });

  it('NoOpTask succeeds with nothing; registry names and aliases resolve', async () => {
    const s = await runTask('noop', {});
    expect(s.status).toBe(WorkflowStatus.SUCCEEDED);
    expect(s.outputs).toEqual({});
    const registry = registerBuiltinTasks(new TaskRegistry());
    for (const name of ['shell', 'http', 'python', 'node', 'script', 'docker', 'ssh', 'sub_workflow', 'subWorkflow', 'childWorkflow', 'wait', 'noop', 'approval', 'human_approval', 'hitl_approval', 'NoOpTask', 'WaitTask']) {
      expect(registry.has(name), name).toBe(true);
    }
    expect(registry.resolve('stabilize.tasks.shell.ShellTask')).toBe(registry.get('shell'));
    expect(registry.listTasks().sort()).toEqual(['approval', 'docker', 'http', 'node', 'noop', 'python', 'shell', 'ssh', 'sub_workflow', 'wait']);
  });
});

describe('ApprovalTask (§8 scenario 47)', () => {
  it('suspends until approved; the approval data becomes outputs', async () => {
    const engine = createEngine();
    const wf = workflow(stage({ refId: 'gate', task: 'approval', context: {} }), stage({ refId: 'after', task: 'noop', requisiteStageRefIds: ['gate'], context: {} }));
    const suspended = await engine.run(wf);
    expect(suspended.stageByRefId('gate')!.status).toBe(WorkflowStatus.SUSPENDED);
    expect(suspended.stageByRefId('after')!.status).toBe(WorkflowStatus.NOT_STARTED);
    await approve(engine.orchestrator, wf.id, { refId: 'gate' }, { user: 'alice' });
    await engine.processor.processAll({ timeoutMs: 10_000 });
    const done = await engine.store.retrieve(wf.id);
    expect(done.status).toBe(WorkflowStatus.SUCCEEDED);
    const gate = done.stageByRefId('gate')!;
    expect(gate.outputs).toEqual({ approved: true, approval: { user: 'alice' } });
    expect(getSignal(gate)).toEqual([null, {}]); // consumed: a restart of the stage asks again
    expect(done.stageByRefId('after')!.context.approval).toEqual({ user: 'alice' });
  });

  it('reject is TERMINAL, or FAILED_CONTINUE with approval_reject_continues', async () => {
    for (const [context, status] of [
      [{}, WorkflowStatus.TERMINAL],
      [{ approval_reject_continues: true }, WorkflowStatus.FAILED_CONTINUE],
    ] as const) {
      const engine = createEngine();
      const wf = workflow(stage({ refId: 'gate', task: 'approval', context }));
      await engine.run(wf);
      const gateId = (await engine.store.retrieve(wf.id)).stageByRefId('gate')!.id;
      await reject(engine.orchestrator, wf.id, gateId, { user: 'bob', reason: 'no' });
      await engine.processor.processAll({ timeoutMs: 10_000 });
      const gate = (await engine.store.retrieve(wf.id)).stageByRefId('gate')!;
      expect(gate.status).toBe(status);
      expect(gate.context.error).toBe('Approval rejected');
      const data = status === WorkflowStatus.TERMINAL ? gate.context : gate.outputs;
      expect(data).toMatchObject({ approved: false, approval: { user: 'bob', reason: 'no' } });
    }
  });

  it('a signal sent before the stage suspends is buffered; unknown signals keep it waiting', async () => {
    const engine = createEngine();
    const wf = workflow(stage({ refId: 'gate', task: 'approval', context: {} }));
    await engine.store.store(wf);
    const gateId = wf.stageByRefId('gate')!.id;
    await sendSignal(engine.queue, wf.id, gateId, 'comment', { text: 'looks good' });
    await approve(engine.queue, wf.id, gateId, { user: 'early' });
    await engine.processor.processAll({ timeoutMs: 10_000 }); // the signals are buffered on the stage
    await engine.orchestrator.start(wf);
    await engine.processor.processAll({ timeoutMs: 10_000 });
    const gate = (await engine.store.retrieve(wf.id)).stageByRefId('gate')!;
    expect(gate.status).toBe(WorkflowStatus.SUCCEEDED);
    expect(gate.outputs.approval).toEqual({ user: 'early' });
  });
});
