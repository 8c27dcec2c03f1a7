// The 32-parallel-HTTP overhead benchmark (upstream examples/benchmark-overhead.py, reference §7):
// a local HTTP server, 32 GETs as a raw Promise pool of 10, then the same 32 GETs as a workflow
// (one trigger stage fanning out to 32 HTTPTask stages) on the real engine, and a summary.
//
//   npx tsx --conditions=@stabilize/source packages/tasks-builtin/examples/http-overhead.ts
//
// The upstream script fails as shipped (its SSRF guard blocks 127.0.0.1); here every stage sets
// `allow_private_urls: true`, which is what a benchmark against a local server needs.
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createInMemoryBackend, Orchestrator, QueueProcessor, StageExecution, TaskExecution, TaskRegistry, Workflow, WorkflowStatus } from '@stabilize/core';
import { registerBuiltinTasks } from '../src/index.js';

const PARALLEL = 32;
const POOL = 10;
const RAW_RUNS = 10;

const ms = (n: number) => `${n.toFixed(1)} ms`;
const avg = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
const pct = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))]!;

async function main(): Promise<void> {
  // ---- 1. local server (no keep-alive, like the upstream HTTP/1.0 server) ----
  const server = createServer((_req, res) => {
    res.writeHead(200, { 'Content-Type': 'application/json', Connection: 'close' });
    res.end(JSON.stringify({ ok: true, t: Date.now() }));
  });
  await new Promise<void>((resolve) => server.listen({ port: 0, host: '127.0.0.1', backlog: 128 }, resolve));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const get = async (path: string) => {
    const response = await fetch(`${base}${path}`);
    const body = (await response.json()) as { ok?: boolean };
    if (!body.ok) throw new Error(`bad response from ${path}`);
  };

  console.log('== 1. single request latency');
  for (let i = 0; i < 20; i++) await get('/warmup');
  const singles: number[] = [];
  for (let i = 0; i < 100; i++) {
    const t = performance.now();
    await get('/single');
    singles.push(performance.now() - t);
  }
  const single = avg(singles);
  console.log(`   avg ${ms(single)}  p50 ${ms(pct(singles, 50))}  p99 ${ms(pct(singles, 99))}`);

  // ---- 2. raw baseline: 32 requests through a Promise pool of 10 ----
  console.log(`== 2. raw baseline: ${PARALLEL} GETs, pool of ${POOL}, ${RAW_RUNS} runs`);
  const rawWalls: number[] = [];
  for (let run = 0; run < RAW_RUNS; run++) {
    let next = 0;
    const t = performance.now();
    await Promise.all(
      Array.from({ length: POOL }, async () => {
        while (next < PARALLEL) await get(`/raw/${next++}`);
      }),
    );
    rawWalls.push(performance.now() - t);
  }
  const rawAvg = avg(rawWalls);
  console.log(`   min ${ms(Math.min(...rawWalls))}  avg ${ms(rawAvg)}  median ${ms(pct(rawWalls, 50))}  ideal ≈ ${ms(single * (PARALLEL / POOL))}`);

  // ---- 3. the same requests as a workflow on the engine ----
  console.log(`== 3. Stabilize: trigger -> ${PARALLEL} http stages (in-memory backend, ${POOL} task slots)`);
  const { store, queue } = createInMemoryBackend();
  const registry = registerBuiltinTasks(new TaskRegistry(), { store, queue });
  const processor = new QueueProcessor(queue, { store, taskRegistry: registry, maxWorkers: POOL, maxConcurrentTasks: POOL, idlePollMs: 5 });
  const orchestrator = new Orchestrator(queue, { store });
  const stages = [
    new StageExecution({ refId: 'trigger', name: 'trigger', tasks: [TaskExecution.create({ name: 'noop', implementingClass: 'noop' })] }),
    ...Array.from(
      { length: PARALLEL },
      (_, i) =>
        new StageExecution({
          refId: `http_${i}`,
          name: `http_${i}`,
          requisiteStageRefIds: ['trigger'],
          context: { url: `${base}/stabilize/${i}`, parse_json: true, timeout: 10, allow_private_urls: true },
          tasks: [TaskExecution.create({ name: 'get', implementingClass: 'http' })],
        }),
    ),
  ];
  const workflow = Workflow.create({ application: 'bench', name: 'http-overhead', stages });
  const t0 = performance.now();
  await orchestrator.start(workflow);
  processor.start();
  const deadline = Date.now() + 60_000;
  let result = await store.retrieve(workflow.id);
  while (!['SUCCEEDED', 'TERMINAL', 'CANCELED', 'STOPPED'].includes(result.status) && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 10));
    result = await store.retrieve(workflow.id);
  }
  const wall = performance.now() - t0;
  await processor.stop();
  server.close();
  if (result.status !== WorkflowStatus.SUCCEEDED) throw new Error(`Workflow failed: ${result.status}`);
  const http = result.stages.filter((s) => s.refId.startsWith('http_'));
  if (http.length !== PARALLEL || !http.every((s) => s.status === WorkflowStatus.SUCCEEDED && (s.outputs.body_json as { ok?: boolean }).ok === true)) {
    throw new Error('not every http stage succeeded with the server answer');
  }
  console.log(`   wall clock ${ms(wall)}  (${processor.processedCount} messages)`);

  // ---- 4. parallelism from the stored timestamps ----
  const starts = http.map((s) => s.startTime!);
  const ends = http.map((s) => s.endTime!);
  const tasks = http.map((s) => s.tasks[0]!);
  const taskDurations = tasks.map((t) => t.endTime! - t.startTime!);
  const events = tasks.flatMap((t) => [
    { at: t.startTime!, d: 1 },
    { at: t.endTime!, d: -1 },
  ]);
  events.sort((a, b) => a.at - b.at || a.d - b.d);
  let running = 0;
  let maxConcurrency = 0;
  for (const e of events) maxConcurrency = Math.max(maxConcurrency, (running += e.d));
  const stored = result.endTime! - result.startTime!;
  console.log('== 4. parallelism (stored timestamps)');
  console.log(`   workflow duration ${stored} ms  stage start spread ${Math.max(...starts) - Math.min(...starts)} ms  execution window ${Math.max(...ends) - Math.min(...starts)} ms`);
  console.log(`   per-task start->end avg ${avg(taskDurations).toFixed(1)} ms (min ${Math.min(...taskDurations)}, max ${Math.max(...taskDurations)}; includes waiting for one of the ${POOL} task slots)`);
  console.log(`   max concurrency (tasks started and not ended) ${maxConcurrency}/${PARALLEL}`);

  // ---- summary ----
  const overhead = wall - rawAvg;
  console.log('== summary');
  console.log(`   raw pool of ${POOL}:   ${ms(rawAvg)}`);
  console.log(`   Stabilize:        ${ms(wall)}`);
  console.log(`   wall overhead:    ${ms(overhead)} (${((overhead / rawAvg) * 100).toFixed(0)} %)`);
  console.log(`   per message ≈     ${ms(stored / processor.processedCount)}`);
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    console.error(error);
    process.exit(1);
  },
);
