// Shared test plumbing: a real engine (QueueProcessor + in-memory backend) with the built-in tasks.
import { execFileSync } from 'node:child_process';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  type Clock,
  type Context,
  createInMemoryBackend,
  ManualClock,
  Orchestrator,
  QueueProcessor,
  type QueueProcessorOptions,
  StageExecution,
  type StageExecutionInit,
  TaskExecution,
  TaskRegistry,
  Workflow,
} from '@stabilize/core';
import { type BuiltinTaskOptions, isProcessAlive, registerBuiltinTasks } from '../src/index.js';

export interface Engine {
  clock: Clock;
  store: ReturnType<typeof createInMemoryBackend>['store'];
  queue: ReturnType<typeof createInMemoryBackend>['queue'];
  registry: TaskRegistry;
  processor: QueueProcessor;
  orchestrator: Orchestrator;
  /** Stores and starts a workflow, drains the queue, returns the stored workflow. */
  run(workflow: Workflow, timeoutMs?: number): Promise<Workflow>;
}

export function createEngine(options: { clock?: Clock; tasks?: BuiltinTaskOptions; processor?: Partial<QueueProcessorOptions> } = {}): Engine {
  const clock = options.clock ?? new ManualClock();
  const { store, queue } = createInMemoryBackend({ clock });
  const registry = registerBuiltinTasks(new TaskRegistry(), { store, queue, ...options.tasks });
  const processor = new QueueProcessor(queue, { store, taskRegistry: registry, clock, ...options.processor });
  const orchestrator = new Orchestrator(queue, { store, clock });
  return {
    clock,
    store,
    queue,
    registry,
    processor,
    orchestrator,
    async run(workflow, timeoutMs = 25_000) {
      await orchestrator.start(workflow);
      await processor.processAll({ timeoutMs });
      return store.retrieve(workflow.id);
    },
  };
}

export interface StageSpec extends Omit<StageExecutionInit, 'tasks'> {
  task: string;
}

/** A stage running one task of type `task`. */
export function stage(spec: StageSpec): StageExecution {
  const { task, ...rest } = spec;
  return new StageExecution({ name: rest.refId, ...rest, tasks: [TaskExecution.create({ name: task, implementingClass: task })] });
}

export function workflow(...stages: StageExecution[]): Workflow {
  return Workflow.create({ application: 'tasks-builtin-test', name: 'wf', stages });
}

/** Runs one stage of `task` with `context` through the engine; returns the stored stage. */
export async function runTask(task: string, context: Context, engine: Engine = createEngine()): Promise<StageExecution & { workflowStatus: string }> {
  const wf = workflow(stage({ refId: 's', task, context }));
  const result = await engine.run(wf);
  const s = result.stageByRefId('s')!;
  return Object.assign(s, { workflowStatus: result.status });
}

// ---- a local HTTP server -------------------------------------------------------------------------

export interface RecordedRequest {
  method: string;
  url: string;
  headers: IncomingMessage['headers'];
  body: Buffer;
}

export interface TestServer {
  url: string;
  port: number;
  requests: RecordedRequest[];
  close(): Promise<void>;
}

export async function startServer(handler: (req: RecordedRequest, res: ServerResponse) => void | Promise<void>): Promise<TestServer> {
  const requests: RecordedRequest[] = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const recorded = { method: req.method ?? '', url: req.url ?? '', headers: req.headers, body: Buffer.concat(chunks) };
      requests.push(recorded);
      Promise.resolve(handler(recorded, res)).catch((error) => {
        res.statusCode = 599;
        res.end(String(error));
      });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

// ---- processes -----------------------------------------------------------------------------------

/** Pids of live (non-zombie) processes whose command line contains `marker`. */
export function processesWith(marker: string): number[] {
  const out = execFileSync('ps', ['-eo', 'pid=,args='], { encoding: 'utf8' });
  return out
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line.includes(marker) && !line.includes('ps -eo'))
    .map((line) => Number.parseInt(line, 10))
    .filter((pid) => Number.isInteger(pid) && pid !== process.pid && isProcessAlive(pid));
}

/** Polls `check` every 50 ms until it is true or `timeoutMs` passes; returns the last value. */
export async function eventually(check: () => boolean | Promise<boolean>, timeoutMs = 10_000): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return true;
    if (Date.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, 50));
  }
}
