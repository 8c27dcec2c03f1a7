// The 32-parallel HTTP case: 32 GETs against a local server as a fan-out of HTTPTask stages through
// the engine, compared with a raw Promise pool of 10 in the same run.
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createInMemoryBackend, Orchestrator, QueueProcessor, StageExecution, TaskExecution, TaskRegistry, Workflow } from '@stabilize/core';
import { registerBuiltinTasks } from '@stabilize/tasks-builtin';
import { percentile, round, rssSampler } from './measure.js';

const PARALLEL = 32;
const POOL = 10;

export async function runHttpCase(): Promise<Record<string, unknown>> {
  const server = createServer((_req, res) => {
    res.writeHead(200, { 'Content-Type': 'application/json', Connection: 'close' });
    res.end('{"ok":true}');
  });
  await new Promise<void>((resolve) => server.listen({ port: 0, host: '127.0.0.1', backlog: 128 }, resolve));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const stopRss = rssSampler();
  try {
    const raw: number[] = [];
    for (let run = 0; run < 7; run++) {
      let next = 0;
      const t = performance.now();
      await Promise.all(
        Array.from({ length: POOL }, async () => {
          while (next < PARALLEL) {
            next++;
            await (await fetch(`${base}/raw`)).json();
          }
        }),
      );
      raw.push(performance.now() - t);
    }
    const engine: number[] = [];
    for (let run = 0; run < 5; run++) {
      const { store, queue } = createInMemoryBackend();
      const registry = registerBuiltinTasks(new TaskRegistry(), { store, queue });
      const processor = new QueueProcessor(queue, { store, taskRegistry: registry, maxWorkers: POOL, maxConcurrentTasks: POOL });
      const stages = [
        new StageExecution({ refId: 'trigger', tasks: [TaskExecution.create({ name: 'noop', implementingClass: 'noop' })] }),
        ...Array.from(
          { length: PARALLEL },
          (_, i) =>
            new StageExecution({
              refId: `http_${i}`,
              requisiteStageRefIds: ['trigger'],
              context: { url: `${base}/engine/${i}`, timeout: 10, allow_private_urls: true },
              tasks: [TaskExecution.create({ name: 'get', implementingClass: 'http' })],
            }),
        ),
      ];
      const workflow = Workflow.create({ application: 'bench', name: 'http32', stages });
      const t = performance.now();
      await new Orchestrator(queue, { store }).start(workflow);
      await processor.processAll({ timeoutMs: 60_000 });
      engine.push(performance.now() - t);
      const status = (await store.retrieveWorkflowOnly(workflow.id)).status;
      if (status !== 'SUCCEEDED') throw new Error(`http32 workflow ended ${status}`);
    }
    const rawMs = percentile(raw, 50);
    const engineMs = percentile(engine, 50);
    return {
      backend: 'memory',
      shape: 'http32',
      size: PARALLEL,
      workers: 1,
      stages: PARALLEL + 1,
      seconds: round(engineMs / 1000, 4),
      stagesPerSecond: Math.round((PARALLEL + 1) / (engineMs / 1000)),
      rawPoolOf10Ms: round(rawMs, 2),
      engineMs: round(engineMs, 2),
      ratioToRawPool: round(engineMs / rawMs, 2),
      peakRssMb: stopRss(),
    };
  } finally {
    server.close();
  }
}
