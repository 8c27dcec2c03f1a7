// The worker loop under a failing queue (backoff, one log line per outage) and bounded stops.
import { describe, expect, it } from 'vitest';
import { createInMemoryBackend, type Logger, Messages, Orchestrator, QueueProcessor, StageExecution, TaskExecution, TaskRegistry, TaskResult, TransientError, Workflow, WorkflowStatus } from '../src/index.js';

function recordingLogger(): Logger & { lines: string[] } {
  const lines: string[] = [];
  const log = (level: string) => (message: string) => lines.push(`${level} ${message}`);
  return { lines, debug: log('debug'), info: log('info'), warn: log('warn'), error: log('error') };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('worker loop while the queue fails', () => {
  it('backs off instead of spinning and logs the outage once when it starts and once when it ends', async () => {
    const { store, queue } = createInMemoryBackend();
    const logger = recordingLogger();
    let failing = true;
    let polls = 0;
    const poll = queue.poll.bind(queue);
    queue.poll = (options) => {
      polls++;
      if (failing) return Promise.reject(new TransientError('connection refused'));
      return poll(options);
    };
    const processor = new QueueProcessor(queue, { store, logger, idlePollMs: 20 });
    processor.start();
    await sleep(1000);
    // 100, 200, 400 ms (±20%) and the first attempt: a handful of polls, not hundreds.
    expect(polls).toBeGreaterThanOrEqual(2);
    expect(polls).toBeLessThanOrEqual(6);
    failing = false;
    await sleep(2500); // the next retry comes within 1 s (+20%)
    await processor.stop();
    expect(logger.lines.filter((l) => l.startsWith('error '))).toEqual(['error Queue unavailable; worker backing off and retrying']);
    expect(logger.lines.filter((l) => l.includes('reachable again'))).toEqual(['info Queue reachable again; worker resumed']);
  });
});

describe('stop()', () => {
  it('waits for in-flight handlers by default', async () => {
    const { store, queue } = createInMemoryBackend();
    const processor = new QueueProcessor(queue, { store });
    let started = false;
    let finished = false;
    processor.registerHandler('StartWorkflow', async () => {
      started = true;
      await sleep(200);
      finished = true;
    });
    await queue.push(Messages.startWorkflow('wf-1'));
    processor.start();
    while (!started) await sleep(5);
    const result = await processor.stop();
    expect(finished).toBe(true);
    expect(result).toEqual({ finished: 1, handedBack: 0, timedOut: false });
    expect(await queue.size()).toBe(0);
  });

  it('with timeoutMs hands back what is still running; its late commit is refused and another worker runs it', async () => {
    const { store, queue } = createInMemoryBackend();
    const slow = new QueueProcessor(queue, { store, leaseMs: 60_000 });
    let release: () => void = () => {};
    let started = 0;
    slow.registerHandler('StartWorkflow', async (_deps, { delivery }) => {
      started++;
      await new Promise<void>((r) => {
        release = r;
      });
      // The late acknowledgement of the abandoned delivery must not remove the handed-back message.
      if (delivery) await queue.ack(delivery);
    });
    await queue.push(Messages.startWorkflow('wf-1'));
    slow.start();
    while (started === 0) await sleep(5);
    const before = performance.now();
    const result = await slow.stop({ timeoutMs: 100 });
    expect(performance.now() - before).toBeLessThan(5_000);
    expect(result).toEqual({ finished: 0, handedBack: 1, timedOut: true });
    release();
    await sleep(20);
    expect(await queue.size()).toBe(1); // still there, deliverable at once

    const other = new QueueProcessor(queue, { store });
    let handled = 0;
    other.registerHandler('StartWorkflow', async () => {
      handled++;
    });
    await other.processAll({ timeoutMs: 5_000 });
    expect(handled).toBe(1);
    expect(await queue.size()).toBe(0);
  });

  it('a task body still running at the bound gets its abort signal; another worker runs the task to the end', async () => {
    const { store, queue } = createInMemoryBackend();
    const registry = new TaskRegistry();
    const runs: Array<'aborted' | 'done'> = [];
    registry.register('long', async (_stage, ctx) => {
      const outcome = await new Promise<'aborted' | 'done'>((resolve) => {
        const timer = setTimeout(() => resolve('done'), runs.length === 0 ? 30_000 : 10);
        ctx.signal.addEventListener('abort', () => {
          clearTimeout(timer);
          resolve('aborted');
        });
      });
      runs.push(outcome);
      return TaskResult.success({ outputs: { outcome } });
    });
    const w = Workflow.create({ application: 'a', name: 'long', stages: [new StageExecution({ refId: 'a', type: 'long', name: 'a', tasks: [TaskExecution.create({ name: 'long', implementingClass: 'long' })] })] });
    await new Orchestrator(queue, { store }).start(w);
    const first = new QueueProcessor(queue, { store, taskRegistry: registry, leaseMs: 60_000 });
    first.start();
    while ((await store.retrieve(w.id)).stages[0]!.status !== WorkflowStatus.RUNNING) await sleep(5);
    await sleep(20); // the task body is running
    const result = await first.stop({ timeoutMs: 50 });
    expect(result).toMatchObject({ handedBack: 1, timedOut: true });
    await sleep(20);
    expect(runs).toEqual(['aborted']); // told to stop; its late result is refused
    await new QueueProcessor(queue, { store, taskRegistry: registry }).processAll({ timeoutMs: 5_000 });
    const done = await store.retrieve(w.id);
    expect(runs).toEqual(['aborted', 'done']);
    expect(done.status).toBe(WorkflowStatus.SUCCEEDED);
    expect(done.stages[0]!.outputs).toEqual({ outcome: 'done' });
  });
});
