import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { Messages, StageExecution, Workflow } from '@stabilize/core';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openSqliteBackend } from '../src/index.js';
import { tempDir } from './support/temp.js';

const WORKER = fileURLToPath(new URL('./fixtures/worker.ts', import.meta.url));
const PACKAGE_DIR = fileURLToPath(new URL('..', import.meta.url));

interface Run {
  child: ChildProcess;
  done: Promise<{ code: number | null; stdout: string; stderr: string }>;
  /** Resolves with the first stdout line. */
  firstLine: Promise<string>;
}

function startWorker(...args: string[]): Run {
  const child = spawn(process.execPath, ['--conditions=@stabilize/source', '--import', 'tsx', WORKER, ...args], { cwd: PACKAGE_DIR, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  let onLine: (line: string) => void = () => {};
  const firstLine = new Promise<string>((resolve) => {
    onLine = resolve;
  });
  child.stdout!.on('data', (chunk: Buffer) => {
    stdout += chunk.toString();
    if (stdout.includes('\n')) onLine(stdout.slice(0, stdout.indexOf('\n')));
  });
  child.stderr!.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  const done = new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => child.on('close', (code) => resolve({ code, stdout, stderr })));
  return { child, done, firstLine };
}

describe('two processes on one database file', () => {
  let dir: ReturnType<typeof tempDir>;
  let file: string;
  beforeEach(() => {
    dir = tempDir();
    file = dir.file('shared.db');
  });
  afterEach(() => dir.remove());

  it('drain one queue together: every message handled exactly once, no SQLITE_BUSY', async () => {
    const N = 1000;
    const setup = openSqliteBackend(file);
    for (let i = 0; i < N; i++) await setup.queue.push(Messages.startWorkflow(`m${i}`));
    await setup.close();

    const runs = [startWorker(file, 'one', 'drain'), startWorker(file, 'two', 'drain')];
    const results = await Promise.all(runs.map((r) => r.done));
    for (const result of results) {
      expect(result.stderr).toBe('');
      expect(result.code).toBe(0);
    }
    const handled = results.map((r) =>
      r.stdout
        .trim()
        .split('\n')
        .filter(Boolean)
        .map((line) => JSON.parse(line) as { exec: string; id: string; attempts: number }),
    );
    const all = handled.flat();
    // First-round messages and their follow-ups, each exactly once, each on its first delivery.
    expect(all).toHaveLength(2 * N);
    expect(new Set(all.map((h) => h.exec)).size).toBe(2 * N);
    expect(new Set(all.map((h) => h.id)).size).toBe(2 * N);
    expect(all.every((h) => h.attempts === 1)).toBe(true);
    // Both processes did real work.
    expect(handled[0]!.length).toBeGreaterThan(0);
    expect(handled[1]!.length).toBeGreaterThan(0);

    const check = openSqliteBackend(file);
    expect(await check.queue.size()).toBe(0);
    expect(await check.store.countWorkflows({})).toBe(2 * N);
    await check.close();
  }, 60_000);

  it('compare-and-swap increments from two processes lose no update', async () => {
    const setup = openSqliteBackend(file);
    await setup.store.store(new Workflow({ id: 'counter-wf', application: 'a', stages: [new StageExecution({ refId: 'counter', context: { n: 0 } })] }));
    await setup.close();

    const times = 150;
    const results = await Promise.all([startWorker(file, 'one', 'increment', String(times)).done, startWorker(file, 'two', 'increment', String(times)).done]);
    for (const result of results) {
      expect(result.stderr).toBe('');
      expect(result.code).toBe(0);
    }
    const check = openSqliteBackend(file);
    const [summary] = await check.store.retrieveStageSummaries('counter-wf');
    expect(summary!.context.n).toBe(2 * times);
    expect((await check.store.retrieveStage(summary!.id)).version).toBe(2 * times);
    await check.close();
  }, 60_000);

  it('a commit in this process wakes a worker waiting in another one (WAL watch)', async () => {
    const backend = openSqliteBackend(file);
    const run = startWorker(file, 'waiter', 'wait');
    expect(await run.firstLine).toBe('ready');
    await new Promise((r) => setTimeout(r, 200));
    await backend.queue.push(Messages.startWorkflow('wake-up'));
    const result = await run.done;
    await backend.close();
    expect(result.stderr).toBe('');
    const waited = Number(result.stdout.trim().split('\n')[1]);
    // Without the cross-process wake-up this would take the full 10 s bounded wait.
    expect(waited).toBeLessThan(5000);
  }, 30_000);
});
