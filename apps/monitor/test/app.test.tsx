import { createInMemoryBackend, Messages, StageExecution, TaskExecution, Workflow, WorkflowStatus } from '@stabilize/core';
import { render } from 'ink-testing-library';
import { afterEach, describe, expect, it } from 'vitest';
import { App, type AppProps, HELP_KEYS } from '../src/app.js';
import { MonitorData, statusTotals } from '../src/data.js';

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

async function mount(props: Partial<AppProps> = {}, extra: Workflow[] = []) {
  const s = await setup();
  for (const w of extra) await s.backend.store.store(w);
  const r = render(<App data={s.data} refreshMs={100} user="tester" {...props} />);
  cleanup = r.unmount;
  await until(() => (r.lastFrame() ?? '').includes('Broken job'));
  return { ...s, ...r };
}

/** Counts the calls of each store method: a thin wrapper around a real store (not a mock). */
function countingStore<S extends object>(store: S): { store: S; calls: Map<string, number>; total(): number; reset(): void } {
  const calls = new Map<string, number>();
  const wrapped = new Proxy(store, {
    get(target, property) {
      const value = Reflect.get(target, property, target) as unknown;
      if (typeof value !== 'function') return value;
      return (...args: unknown[]) => {
        calls.set(String(property), (calls.get(String(property)) ?? 0) + 1);
        return (value as (...a: unknown[]) => unknown).apply(target, args);
      };
    },
  });
  return { store: wrapped, calls, total: () => [...calls.values()].reduce((a, b) => a + b, 0), reset: () => calls.clear() };
}

describe('MonitorData', () => {
  it('makes at most 3 store queries per refresh, however many rows are on screen', async () => {
    const backend = createInMemoryBackend();
    const ids: string[] = [];
    for (let i = 0; i < 40; i++) {
      const w = wf('load', `job ${i}`, i % 2 === 0 ? WorkflowStatus.RUNNING : WorkflowStatus.SUCCEEDED, [WorkflowStatus.SUCCEEDED, i % 2 === 0 ? WorkflowStatus.RUNNING : WorkflowStatus.SUCCEEDED]);
      ids.push(w.id);
      await backend.store.store(w);
    }
    const counting = countingStore(backend.store);
    const data = new MonitorData({ store: counting.store, queue: backend.queue });
    const all = { status: 'all', application: '', text: '' } as const;
    const snap = await data.snapshot(all, 15, ids[39]!);
    // Newest first, bounded by the rows that fit.
    expect(snap.workflows.map((w) => w.id)).toEqual([...ids].reverse().slice(0, 15));
    expect(snap.workflows.every((w) => w.stagesTotal === 2)).toBe(true);
    expect(snap.detail?.id).toBe(ids[39]);
    // The pane is open and no row has progress yet: the summaries take the last place, no counts.
    expect(Object.fromEntries(counting.calls)).toEqual({ listWorkflows: 1, retrieveStageSummariesFor: 1, retrieve: 1 });
    expect(snap.statusCounts).toBeNull();
    // Next refresh: finished rows are cached, only the running ones are re-read (still one query),
    // and the whole-database counts are one grouped query.
    counting.reset();
    const closed = await data.snapshot(all, 15, null);
    expect(Object.fromEntries(counting.calls)).toEqual({ listWorkflows: 1, retrieveStageSummariesFor: 1, countWorkflowsByStatus: 1 });
    expect(closed.statusCounts).toEqual({ RUNNING: 20, SUCCEEDED: 20 });
    // Only finished workflows on screen: the summaries query is skipped altogether.
    const done = { status: 'all', application: '', text: 'job 1' } as const;
    await data.snapshot(done, 3, null);
    counting.reset();
    const again = await data.snapshot(done, 3, null);
    expect(again.workflows.every((w) => w.status === 'SUCCEEDED')).toBe(true);
    expect(Object.fromEntries(counting.calls)).toEqual({ listWorkflows: 1, countWorkflowsByStatus: 1 });
    // Every filter stays within the budget.
    for (const status of ['running', 'failed', 'recent'] as const) {
      counting.reset();
      await data.snapshot({ status, application: 'load', text: '' }, 20, ids[0]!);
      expect(counting.total(), status).toBeLessThanOrEqual(3);
    }
  });

  it('with the details pane open, alternates the counts and the summaries within the budget', async () => {
    const backend = createInMemoryBackend();
    const ids: string[] = [];
    const add = async (i: number) => {
      const w = wf('load', `job ${i}`, WorkflowStatus.RUNNING, [WorkflowStatus.SUCCEEDED, WorkflowStatus.RUNNING]);
      ids.push(w.id);
      await backend.store.store(w);
    };
    for (let i = 0; i < 10; i++) await add(i);
    const store = countingStore(backend.store);
    const queue = countingStore(backend.queue);
    const data = new MonitorData({ store: store.store, queue: queue.store });
    const all = { status: 'all', application: '', text: '' } as const;
    await data.snapshot(all, 5, ids[0]!); // first sight of the rows: summaries, no counts
    const calls: Array<Record<string, number>> = [];
    const counts: Array<number | undefined> = [];
    for (let i = 0; i < 6; i++) {
      store.reset();
      queue.reset();
      const snap = await data.snapshot(all, 5, ids[0]!);
      expect(store.total()).toBeLessThanOrEqual(3);
      expect(Object.fromEntries(queue.calls)).toEqual({ stats: 1 }); // one queue query per refresh
      expect(snap.detail?.id).toBe(ids[0]);
      calls.push(Object.fromEntries(store.calls));
      counts.push(snap.statusCounts?.RUNNING);
    }
    // Every refresh lists and retrieves; the last place alternates, counts first (none cached yet).
    expect(calls.map((c) => [c.listWorkflows, c.retrieve])).toEqual(Array(6).fill([1, 1]));
    expect(calls.map((c) => (c.countWorkflowsByStatus ? 'counts' : c.retrieveStageSummariesFor ? 'summaries' : '-'))).toEqual(['counts', 'summaries', 'counts', 'summaries', 'counts', 'summaries']);
    expect(counts).toEqual(Array(6).fill(10)); // cached counts are shown between reads
    // New rows keep appearing: their progress comes first, but the counts wait at most two refreshes.
    const seen: string[] = [];
    for (let i = 0; i < 6; i++) {
      await add(100 + i);
      store.reset();
      const snap = await data.snapshot(all, 5, ids[0]!);
      expect(store.total()).toBeLessThanOrEqual(3);
      seen.push(store.calls.get('countWorkflowsByStatus') ? 'counts' : 'summaries');
      if (store.calls.get('countWorkflowsByStatus')) expect(snap.statusCounts?.RUNNING).toBe(11 + i);
    }
    expect(seen).toEqual(['summaries', 'counts', 'summaries', 'summaries', 'counts', 'summaries']);
    // Closing the pane: both again, in one refresh.
    store.reset();
    await data.snapshot(all, 5, null);
    expect(Object.fromEntries(store.calls)).toEqual({ listWorkflows: 1, retrieveStageSummariesFor: 1, countWorkflowsByStatus: 1 });
  });

  it('counts the whole database (or the filtered application) and the queue, not the rows on screen', async () => {
    const { backend, data } = await setup();
    for (let i = 0; i < 4; i++) await backend.store.store(wf('billing', `gone ${i}`, WorkflowStatus.CANCELED, []));
    await backend.store.store(wf('shop', 'stopped', WorkflowStatus.STOPPED, []));
    const snap = await data.snapshot({ status: 'running', application: '', text: '' }, 1);
    expect(snap.workflows).toHaveLength(1);
    expect(snap.statusCounts).toEqual({ RUNNING: 1, SUCCEEDED: 1, TERMINAL: 1, CANCELED: 4, STOPPED: 1 });
    expect(statusTotals(snap.statusCounts!)).toEqual({ total: 8, running: 1, failed: 6 });
    const shop = await data.snapshot({ status: 'all', application: 'shop', text: 'quick' }, 10);
    expect(shop.statusCounts).toEqual({ RUNNING: 1, SUCCEEDED: 1, STOPPED: 1 });
    expect(statusTotals(shop.statusCounts!)).toEqual({ total: 3, running: 1, failed: 1 });
    // Queue: two ready, one delayed, one leased (processing).
    await backend.queue.push(Messages.startWorkflow('a'));
    await backend.queue.push(Messages.startWorkflow('b'));
    await backend.queue.push(Messages.startWorkflow('c'));
    await backend.queue.push(Messages.startWorkflow('later'), { delayMs: 60_000 });
    expect(await backend.queue.poll({ limit: 1, leaseMs: 60_000 })).toHaveLength(1);
    const queued = await data.snapshot({ status: 'all', application: '', text: '' }, 10);
    expect(queued.queue).toEqual({ ready: 2, delayed: 1, processing: 1, deadLetters: 0 });
    expect(queued.queueDepth).toBe(4);
    expect(queued.deadLetters).toBe(0);
  });

  it('returns bounded rows with progress, errors, queue depth and dead letters', async () => {
    const { data, running, ok, failed } = await setup();
    const snap = await data.snapshot({ status: 'all', application: '', text: '' }, 2);
    expect(snap.workflows.map((w) => w.id)).toEqual([failed.id, ok.id]); // newest first
    expect(snap.workflows[1]).toMatchObject({ id: ok.id, stagesDone: 2, stagesTotal: 2 });
    expect((await data.snapshot({ status: 'running', application: '', text: '' }, 5)).workflows[0]).toMatchObject({ id: running.id, stagesDone: 1, stagesTotal: 2 });
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
    expect(frame).toMatch(/queue 0\s+processing 0\s+dead letters 0/);
    expect(frame).toContain('shown 3  running 1  failed 1');
  });

  it('shows whole-database counts and the processing count in the status bar', async () => {
    // 24 rows leave 19 for the list: 30 more workflows do not fit.
    const extra = Array.from({ length: 30 }, (_, i) => wf('bulk', `old ${i}`, i < 10 ? WorkflowStatus.CANCELED : i < 12 ? WorkflowStatus.RUNNING : WorkflowStatus.SUCCEEDED, []));
    const r = await mount({}, extra);
    await r.backend.queue.push(Messages.startWorkflow('x'));
    await r.backend.queue.push(Messages.startWorkflow('y'));
    await r.backend.queue.push(Messages.startWorkflow('z'), { delayMs: 60_000 });
    await r.backend.queue.poll({ limit: 1, leaseMs: 60_000 });
    // 1 + 2 running, 1 TERMINAL + 10 CANCELED failed, though only 19 rows are on screen.
    await until(() => r.lastFrame()!.includes('queue 3  processing 1  dead letters 0  shown 19  running 3  failed 11'));
    const resize = (columns: number, rows: number) => {
      Object.defineProperty(r.stdout, 'columns', { value: columns, configurable: true });
      Object.defineProperty(r.stdout, 'rows', { value: rows, configurable: true });
      r.stdout.emit('resize');
    };
    resize(80, 24);
    await until(() => r.lastFrame()!.includes('queue 3  proc 1  dlq 0  shown 19  run 3  fail 11  refresh 0.1s  updated'));
    expect(r.lastFrame()!.split('\n').every((l) => l.length <= 80)).toBe(true);
    // The application filter narrows the counts too.
    r.stdin.write('a');
    await until(() => r.lastFrame()!.includes('Application:'));
    r.stdin.write('bulk\r');
    await until(() => r.lastFrame()!.includes('app=bulk') && r.lastFrame()!.includes('run 2  fail 10'));
    await r.backend.store.store(wf('bulk', 'new failure', WorkflowStatus.TERMINAL, []));
    await until(() => r.lastFrame()!.includes('run 2  fail 11'));
  });

  it('moves the selection and expands stages and tasks', async () => {
    const { lastFrame, stdin } = await mount();
    expect(lastFrame()).toMatch(/> billing\/Broken job/); // newest first
    expect(lastFrame()!.indexOf('Broken job')).toBeLessThan(lastFrame()!.indexOf('Long job'));
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
    stdin.write('G');
    await until(() => /> shop\/Long job/.test(lastFrame()!));
    stdin.write('c');
    await until(() => lastFrame()!.includes('reason'));
    await tick(200); // no timeout: the prompt waits
    expect(lastFrame()).toContain('reason');
    stdin.write('too slow\r'); // text and Enter in one chunk (a paste, or a slow terminal)
    await until(() => lastFrame()!.includes('(y/n)'));
    stdin.write('y');
    await until(() => lastFrame()!.includes('cancel sent'));
    const [delivery] = await backend.queue.poll({ limit: 10, leaseMs: 1000 });
    expect(delivery!.message).toMatchObject({ type: 'CancelWorkflow', executionId: running.id, user: 'tester', reason: 'too slow' });
  });

  it('pauses and resumes after confirmation; n aborts', async () => {
    const { lastFrame, stdin, backend, running } = await mount();
    stdin.write('G');
    await until(() => /> shop\/Long job/.test(lastFrame()!));
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
    stdin.write('g');
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

  it('toggles a help overlay listing every key (? and Esc)', async () => {
    const { lastFrame, stdin } = await mount();
    stdin.write('?');
    await until(() => lastFrame()!.includes('? or Esc closes the help'));
    const frame = lastFrame()!;
    for (const [k, what] of HELP_KEYS) expect(frame).toContain(`${k}`.padEnd(17) + what);
    expect(frame).not.toContain('Long job'); // the overlay replaces the list
    expect(frame.split('\n').length).toBeLessThanOrEqual(23);
    stdin.write('j'); // ignored while the help is open
    stdin.write('?');
    await until(() => lastFrame()!.includes('Long job'));
    expect(lastFrame()).toMatch(/> billing\/Broken job/);
    stdin.write('?');
    await until(() => lastFrame()!.includes('Keys'));
    stdin.write('\u001b');
    await until(() => lastFrame()!.includes('Long job') && !lastFrame()!.includes('closes the help'));
  });

  it('changes the refresh rate with + and - within bounds, shown in the status bar', async () => {
    const { lastFrame, stdin } = await mount({ refreshMs: 1000 });
    expect(lastFrame()).toContain('refresh 1s');
    stdin.write('+');
    await until(() => lastFrame()!.includes('refresh 0.5s'));
    expect(lastFrame()).toContain('refresh every 0.5s');
    stdin.write('-');
    stdin.write('-');
    await until(() => lastFrame()!.includes('refresh 2s'));
    for (let i = 0; i < 10; i++) stdin.write('-');
    await until(() => lastFrame()!.includes('refresh 60s'));
    await until(() => lastFrame()!.includes('(limit)'));
    for (let i = 0; i < 12; i++) stdin.write('+');
    await until(() => lastFrame()!.includes('refresh 0.1s'));
  });

  it('polls at the chosen rate', async () => {
    const s = await setup();
    const counting = countingStore(s.backend.store);
    const r = render(<App data={new MonitorData({ store: counting.store, queue: s.backend.queue })} refreshMs={2000} />);
    cleanup = r.unmount;
    await until(() => (r.lastFrame() ?? '').includes('Broken job'));
    await tick(400);
    const slow = counting.calls.get('listWorkflows') ?? 0;
    expect(slow).toBeLessThanOrEqual(2);
    for (let i = 0; i < 4; i++) r.stdin.write('+'); // 2s -> 1s -> 0.5s -> 0.25s -> 0.1s
    await until(() => r.lastFrame()!.includes('refresh 0.1s'));
    await tick(600);
    expect((counting.calls.get('listWorkflows') ?? 0) - slow).toBeGreaterThanOrEqual(3);
  });

  it('scrolls the details pane with J/K and D/U and shows outputs and errors', async () => {
    const big = Workflow.create({
      application: 'ops',
      name: 'Many stages',
      status: WorkflowStatus.TERMINAL,
      startTime: Date.now() - 5000,
      endTime: Date.now(),
      stages: Array.from(
        { length: 12 },
        (_, i) =>
          new StageExecution({
            refId: `st${String(i + 1).padStart(2, '0')}`,
            name: `Step ${i + 1}`,
            status: i === 11 ? WorkflowStatus.TERMINAL : WorkflowStatus.SUCCEEDED,
            outputs: i === 0 ? { greeting: 'hello' } : {},
            context: i === 11 ? { exception: { details: { error: 'last step broke' } } } : {},
            tasks: [TaskExecution.create({ name: `task ${i + 1}`, implementingClass: 'x', stageStart: true, stageEnd: true, status: WorkflowStatus.SUCCEEDED })],
          }),
      ),
    });
    const { lastFrame, stdin } = await mount({}, [big]);
    stdin.write('G'); // created first, so listed last
    await until(() => /> ops\/Many stages/.test(lastFrame()!));
    stdin.write('\r');
    // 12 stages + 12 tasks + 1 output + 1 error = 26 lines; 24 rows leave 7 in view.
    await until(() => lastFrame()!.includes('lines 1-7/26'));
    expect(lastFrame()).toContain('st01 Step 1 SUCCEEDED');
    expect(lastFrame()).toContain('= greeting: "hello"');
    expect(lastFrame()).not.toContain('    ! last step broke');
    stdin.write('J');
    await until(() => lastFrame()!.includes('lines 2-8/26'));
    expect(lastFrame()).not.toContain('st01 Step 1');
    expect(lastFrame()).toContain('Many stages'); // the title line stays
    stdin.write('D');
    await until(() => lastFrame()!.includes('lines 8-14/26'));
    for (let i = 0; i < 5; i++) stdin.write('D');
    await until(() => lastFrame()!.includes('lines 20-26/26'));
    expect(lastFrame()).toContain('    ! last step broke');
    stdin.write('J'); // clamped at the end
    await tick(100);
    expect(lastFrame()).toContain('lines 20-26/26');
    stdin.write('U');
    await until(() => lastFrame()!.includes('lines 14-20/26'));
    stdin.write('K');
    await until(() => lastFrame()!.includes('lines 13-19/26'));
    // Refreshes keep the position; closing and reopening starts at the top again.
    await tick(300);
    expect(lastFrame()).toContain('lines 13-19/26');
    stdin.write(' ');
    await until(() => !lastFrame()!.includes('lines 13-19'));
    stdin.write('\r');
    await until(() => lastFrame()!.includes('lines 1-7/26'));
    expect(lastFrame()!.split('\n').length).toBeLessThanOrEqual(23);
  });

  it('jumps to the next failed workflow (e) and copies the id (y)', async () => {
    const copied: string[] = [];
    const { lastFrame, stdin, failed, running } = await mount({ copy: (t) => copied.push(t) });
    stdin.write('G');
    await until(() => /> shop\/Long job/.test(lastFrame()!));
    stdin.write('e');
    await until(() => /> billing\/Broken job/.test(lastFrame()!));
    stdin.write('y');
    await until(() => lastFrame()!.includes(`copied ${failed.id}`));
    expect(copied).toEqual([failed.id]);
    stdin.write('G');
    await until(() => /> shop\/Long job/.test(lastFrame()!));
    stdin.write('y');
    await until(() => copied.length === 2);
    expect(copied[1]).toBe(running.id);
  });

  it('fits 80x24 and says when the terminal is too small', async () => {
    const r = await mount();
    const resize = (columns: number, rows: number) => {
      Object.defineProperty(r.stdout, 'columns', { value: columns, configurable: true });
      Object.defineProperty(r.stdout, 'rows', { value: rows, configurable: true });
      r.stdout.emit('resize');
    };
    resize(80, 24);
    r.stdin.write('\r');
    await until(() => r.lastFrame()!.includes('s1 Stage 1'));
    const frame = r.lastFrame()!;
    expect(frame.split('\n').every((l) => l.length <= 80)).toBe(true);
    expect(frame.split('\n').length).toBeLessThanOrEqual(23);
    expect(frame).not.toMatch(/TIME\s+STARTED/);
    expect(frame).toMatch(/queue 0\s+proc 0\s+dlq 0\s+shown 3\s+run 1\s+fail 1\s+refresh 0.1s\s+updated \d\d:\d\d:\d\dZ/);
    r.stdin.write('?');
    await until(() => r.lastFrame()!.includes('closes the help'));
    expect(r.lastFrame()!.split('\n').every((l) => l.length <= 80)).toBe(true);
    for (const [k] of HELP_KEYS) expect(r.lastFrame()).toContain(k);
    r.stdin.write('?');
    resize(50, 20);
    await until(() => r.lastFrame()!.includes('Terminal too small'));
  });
});
