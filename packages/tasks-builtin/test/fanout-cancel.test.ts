import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { systemClock, WorkflowStatus } from '@stabilize/core';
import { afterAll, describe, expect, it } from 'vitest';
import { isProcessAlive, liveProcessGroups } from '../src/index.js';
import { createEngine, eventually, processesWith, stage, workflow } from './helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'stabilize-fanout-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const WIDTH = 50;

/** 50 parallel shell stages; each writes its shell's pid and its background child's pid. */
function fanOut(tag: string, sleep: string, timeout: number) {
  const stages = Array.from({ length: WIDTH }, (_, i) =>
    stage({
      refId: `sh${i}`,
      task: 'shell',
      context: { command: `echo $$ > ${join(dir, `${tag}-${i}`)}; sleep ${sleep} & echo $! >> ${join(dir, `${tag}-${i}`)}; sleep ${sleep}; wait`, timeout },
    }),
  );
  return workflow(...stages);
}

function pidsOf(tag: string): number[] {
  const pids: number[] = [];
  for (let i = 0; i < WIDTH; i++) {
    const file = join(dir, `${tag}-${i}`);
    if (!existsSync(file)) continue;
    pids.push(
      ...readFileSync(file, 'utf8')
        .split('\n')
        .filter(Boolean)
        .map(Number),
    );
  }
  return pids;
}

describe('wide fan-out of shell tasks', () => {
  it('canceling the workflow kills all 50 running commands and their children', async () => {
    const sleep = `30.${process.pid}1`;
    const engine = createEngine({ clock: systemClock, processor: { maxConcurrentTasks: WIDTH, maxWorkers: 20, idlePollMs: 20 } });
    const wf = fanOut('cancel', sleep, 5);
    await engine.orchestrator.start(wf);
    engine.processor.start();
    try {
      // Every stage is running its command (shell + background sleep) before the cancel.
      expect(await eventually(() => pidsOf('cancel').length === WIDTH * 2, 20_000)).toBe(true);
      const pids = pidsOf('cancel');
      expect(pids.every(isProcessAlive)).toBe(true);
      expect(processesWith(`sleep ${sleep}`).length).toBeGreaterThanOrEqual(WIDTH * 2);

      await engine.orchestrator.cancel(wf.id, 'tester', 'fan-out cancel test');
      expect(await eventually(async () => (await engine.store.retrieveWorkflowOnly(wf.id)).status === WorkflowStatus.CANCELED, 10_000)).toBe(true);
      // Cancellation ends well before the commands' own 5 s timeout would.
      expect(await eventually(() => pids.every((pid) => !isProcessAlive(pid)), 4000)).toBe(true);
      expect(processesWith(`sleep ${sleep}`)).toEqual([]);
      const result = await engine.store.retrieve(wf.id);
      expect(result.stages.every((s) => s.status === WorkflowStatus.CANCELED)).toBe(true);
    } finally {
      await engine.processor.stop();
    }
    // The registry of process groups drains once the SIGKILL backstop has run.
    expect(await eventually(() => liveProcessGroups().length === 0, 7000)).toBe(true);
  });

  it('50 commands that all time out leave no process behind', async () => {
    const sleep = `31.${process.pid}2`;
    const engine = createEngine({ processor: { maxConcurrentTasks: WIDTH, maxWorkers: 20 } });
    const started = Date.now();
    const result = await engine.run(fanOut('timeout', sleep, 1));
    expect(Date.now() - started).toBeLessThan(15_000);
    expect(result.status).toBe(WorkflowStatus.TERMINAL);
    const timedOut = result.stages.filter((s) => s.context.error === 'Command timed out after 1s');
    expect(timedOut.length).toBeGreaterThan(0);
    const pids = pidsOf('timeout');
    expect(pids.length).toBeGreaterThanOrEqual(timedOut.length * 2);
    expect(result.stages.every((s) => s.status !== WorkflowStatus.RUNNING)).toBe(true);
    expect(await eventually(() => pids.every((pid) => !isProcessAlive(pid)), 7000)).toBe(true);
    expect(processesWith(`sleep ${sleep}`)).toEqual([]);
  });
});
