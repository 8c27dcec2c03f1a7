import { createInMemoryBackend, StageExecution, TaskExecution, Workflow, WorkflowStatus } from '@stabilize/core';
import { render } from 'ink-testing-library';
import { afterEach, describe, expect, it } from 'vitest';
import { App } from '../src/app.js';
import { MonitorData } from '../src/data.js';

const tick = (ms = 30) => new Promise((r) => setTimeout(r, ms));
async function until(check: () => boolean, ms = 2000): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error('timed out');
    await tick(10);
  }
}

function wf(application: string, name: string, status: WorkflowStatus, stageStatuses: WorkflowStatus[], error?: string): Workflow {
  return Workflow.create({
    application,
    name,
    status,
    startTime: Date.now() - 65_000,
    endTime: status === WorkflowStatus.RUNNING ? null : Date.now() - 1000,
    stages: stageStatuses.map(
      (s, i) =>
        new StageExecution({
          refId: `s${i + 1}`,
          name: `Stage ${i + 1}`,
          status: s,
          context: error && s === WorkflowStatus.TERMINAL ? { exception: { details: { error } } } : {},
          tasks: [TaskExecution.create({ name: `task ${i + 1}`, implementingClass: 'x', stageStart: true, stageEnd: true, status: s })],
        }),
    ),
  });
}

async function setup() {
  const backend = createInMemoryBackend();
  const running = wf('shop', 'Long job', WorkflowStatus.RUNNING, [WorkflowStatus.SUCCEEDED, WorkflowStatus.RUNNING]);
  const ok = wf('shop', 'Quick job', WorkflowStatus.SUCCEEDED, [WorkflowStatus.SUCCEEDED, WorkflowStatus.SUCCEEDED]);
  const failed = wf('billing', 'Broken job', WorkflowStatus.TERMINAL, [WorkflowStatus.SUCCEEDED, WorkflowStatus.TERMINAL], 'disk on fire');
  for (const w of [running, ok, failed]) await backend.store.store(w);
  return { backend, data: new MonitorData(backend), running, ok, failed };
}

let cleanup: (() => void) | null = null;
afterEach(() => {
  cleanup?.();
  cleanup = null;
});

async function mount() {
  const s = await setup();
  const r = render(<App data={s.data} refreshMs={100} user="tester" />);
  cleanup = r.unmount;
  await until(() => (r.lastFrame() ?? '').includes('Broken job'));
  return { ...s, ...r };
}

describe('MonitorData', () => {
  it('returns bounded rows with progress, errors, queue depth and dead letters', async () => {
    const { data, running, failed } = await setup();
    const snap = await data.snapshot({ status: 'all', application: '', text: '' }, 2);
    expect(snap.workflows).toHaveLength(2);
    expect(snap.workflows[0]).toMatchObject({ id: running.id, stagesDone: 1, stagesTotal: 2 });
    const failedOnly = await data.snapshot({ status: 'failed', application: '', text: '' }, 10);
    expect(failedOnly.workflows.map((w) => w.id)).toEqual([failed.id]);
    expect(failedOnly.workflows[0]!.error).toBe('disk on fire');
    expect((await data.snapshot({ status: 'all', application: 'shop', text: 'quick' }, 10)).workflows.map((w) => w.name)).toEqual(['Quick job']);
    expect(snap.queueDepth).toBe(0);
    expect(snap.deadLetters).toBe(0);
  });
});

describe('<App>', () => {
  it('shows workflows with status, progress, errors and the queue footer', async () => {
    const { lastFrame } = await mount();
    const frame = lastFrame()!;
    expect(frame).toContain('Stabilize monitor');
    expect(frame).toMatch(/Long job.*RUNNING\s+1\/2/);
    expect(frame).toMatch(/Quick job.*SUCCEEDED\s+2\/2/);
    expect(frame).toContain('disk on fire');
    expect(frame).toMatch(/queue 0\s+dead letters 0/);
    expect(frame).toContain('running 1  failed 1');
  });

  it('moves the selection and expands stages and tasks', async () => {
    const { lastFrame, stdin } = await mount();
    expect(lastFrame()).toMatch(/> shop\/Long job/);
    stdin.write('j');
    await until(() => /> shop\/Quick job/.test(lastFrame()!)).catch((e) => { console.log(lastFrame()); throw e; });
    stdin.write('\r');
    await until(() => lastFrame()!.includes('Quick job 0'));
    expect(lastFrame()).toMatch(/s2 Stage 2 SUCCEEDED/);
    expect(lastFrame()).toContain('· task 1 (x) SUCCEEDED');
    stdin.write(' ');
    await until(() => !lastFrame()!.includes('· task 1'));
  });

  it('filters by status (s) and text (/)', async () => {
    const { lastFrame, stdin } = await mount();
    stdin.write('s');
    await until(() => lastFrame()!.includes('filter: running') && !lastFrame()!.includes('Quick job'));
    stdin.write('s');
    await until(() => lastFrame()!.includes('filter: failed') && !lastFrame()!.includes('Long job'));
    expect(lastFrame()).toContain('Broken job');
    stdin.write('s');
    stdin.write('s');
    await until(() => lastFrame()!.includes('filter: all'));
    stdin.write('/');
    await until(() => lastFrame()!.includes('Filter text:'));
    for (const ch of 'quick') stdin.write(ch);
    stdin.write('\r');
    await until(() => lastFrame()!.includes('text="quick"') && !lastFrame()!.includes('Long job'));
  });

  it('cancels with a typed reason after confirmation', async () => {
    const { lastFrame, stdin, backend, running } = await mount();
    stdin.write('c');
    await until(() => lastFrame()!.includes('reason'));
    await tick(200); // no timeout: the prompt waits
    expect(lastFrame()).toContain('reason');
    for (const ch of 'too slow') stdin.write(ch);
    stdin.write('\r');
    await until(() => lastFrame()!.includes('(y/n)'));
    stdin.write('y');
    await until(() => lastFrame()!.includes('cancel sent'));
    const [delivery] = await backend.queue.poll({ limit: 10, leaseMs: 1000 });
    expect(delivery!.message).toMatchObject({ type: 'CancelWorkflow', executionId: running.id, user: 'tester', reason: 'too slow' });
  });

  it('pauses and resumes after confirmation; n aborts', async () => {
    const { lastFrame, stdin, backend, running } = await mount();
    stdin.write('p');
    await until(() => lastFrame()!.includes('(y/n)'));
    stdin.write('n');
    await until(() => !lastFrame()!.includes('(y/n)'));
    expect((await backend.store.retrieveWorkflowOnly(running.id)).status).toBe('RUNNING');
    stdin.write('p');
    await until(() => lastFrame()!.includes('(y/n)'));
    stdin.write('y');
    await until(() => /Long job.*PAUSED/.test(lastFrame()!));
    stdin.write('r');
    await until(() => lastFrame()!.includes('Resume'));
    stdin.write('y');
    await until(() => /Long job.*RUNNING/.test(lastFrame()!));
  });

  it('restarts and signals a stage by refId', async () => {
    const { lastFrame, stdin, backend, failed } = await mount();
    stdin.write('G');
    await until(() => /> billing\/Broken job/.test(lastFrame()!));
    stdin.write('R');
    await until(() => lastFrame()!.includes('Restart stage'));
    stdin.write('s2');
    stdin.write('\r');
    await until(() => lastFrame()!.includes('(y/n)'));
    stdin.write('y');
    await until(() => lastFrame()!.includes('restart sent'));
    stdin.write('S');
    await until(() => lastFrame()!.includes('Signal stage'));
    stdin.write('s2');
    stdin.write('\r');
    await until(() => lastFrame()!.includes('Signal name'));
    stdin.write('go');
    stdin.write('\r');
    await until(() => lastFrame()!.includes('(y/n)'));
    stdin.write('y');
    await until(() => lastFrame()!.includes('signal sent'));
    const types = (await backend.queue.poll({ limit: 10, leaseMs: 1000 })).map((d) => d.message);
    expect(types).toMatchObject([
      { type: 'RestartStage', executionId: failed.id },
      { type: 'SignalStage', executionId: failed.id, signalName: 'go' },
    ]);
  });

  it('shows help and says when the terminal is too small', async () => {
    const { lastFrame, stdin } = await mount();
    stdin.write('?');
    await until(() => lastFrame()!.includes('g/G ends'));
  });
});
