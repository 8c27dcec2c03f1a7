// Spawning and watching worker processes (test/fixtures/worker.ts).
import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { WorkerConfig } from '../fixtures/worker.js';

const WORKER = fileURLToPath(new URL('../fixtures/worker.ts', import.meta.url));
const PACKAGE_DIR = fileURLToPath(new URL('../..', import.meta.url));

export interface RssSample {
  /** Bytes: resident set size, the V8 heap in use, memory outside the heap (bound to JS objects). */
  rss: number;
  heapUsed: number;
  external: number;
  /** Progress (0..1) the test had observed when the sample arrived. */
  progress: number;
}

export interface Worker {
  child: ChildProcess;
  config: WorkerConfig;
  /** stderr so far (the worker's log). */
  readonly stderr: string;
  readonly stdoutLines: string[];
  rss: RssSample[];
  /** Resolves with the exit code (null after a signal) once the process ended. */
  exited: Promise<number | null>;
  /** Resolves when the worker printed `line` on stdout. */
  waitFor(line: string, timeoutMs?: number): Promise<void>;
}

/** What the test currently knows about progress; RSS samples are tagged with it. */
export const progress = { value: 0 };

export function spawnWorker(config: WorkerConfig): Worker {
  const child = spawn(process.execPath, ['--conditions=@stabilize/source', '--expose-gc', '--import', 'tsx', WORKER, JSON.stringify(config)], {
    cwd: PACKAGE_DIR,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  let partial = '';
  const stdoutLines: string[] = [];
  const rss: RssSample[] = [];
  const lineWaiters: Array<{ line: string; resolve: () => void }> = [];
  child.stdout!.on('data', (chunk: Buffer) => {
    partial += chunk.toString();
    let nl = partial.indexOf('\n');
    while (nl >= 0) {
      const line = partial.slice(0, nl);
      partial = partial.slice(nl + 1);
      if (line.startsWith('rss ')) {
        const [, rssBytes, heapUsed, external] = line.split(' ').map(Number);
        rss.push({ rss: rssBytes!, heapUsed: heapUsed!, external: external!, progress: progress.value });
      }
      else stdoutLines.push(line);
      for (const w of lineWaiters.filter((w) => w.line === line)) w.resolve();
      nl = partial.indexOf('\n');
    }
  });
  child.stderr!.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const worker: Worker = {
    child,
    config,
    get stderr() {
      return stderr;
    },
    stdoutLines,
    rss,
    exited,
    waitFor(line, timeoutMs = 60_000) {
      if (stdoutLines.includes(line)) return Promise.resolve();
      return new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`worker ${child.pid} did not print "${line}" within ${timeoutMs} ms; stderr:\n${stderr}`)), timeoutMs);
        lineWaiters.push({
          line,
          resolve: () => {
            clearTimeout(timer);
            resolve();
          },
        });
        void exited.then((code) => {
          clearTimeout(timer);
          reject(new Error(`worker ${child.pid} exited (${code}) before printing "${line}"; stderr:\n${stderr}`));
        });
      });
    },
  };
  return worker;
}

/** SIGTERM (graceful stop) and the exit code; SIGKILL after `graceMs` if it does not exit. */
export async function stopWorker(worker: Worker, graceMs = 60_000): Promise<number | null> {
  if (worker.child.exitCode !== null || worker.child.signalCode !== null) return worker.child.exitCode;
  worker.child.kill('SIGTERM');
  const timer = setTimeout(() => worker.child.kill('SIGKILL'), graceMs);
  const code = await worker.exited;
  clearTimeout(timer);
  return code;
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
