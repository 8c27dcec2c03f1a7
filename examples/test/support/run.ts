// Runs TypeScript files as real Node processes, the way users run them: `node --import tsx`, with
// the `@stabilize/source` condition so workspace packages resolve to their sources (no build).
import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { fileURLToPath, pathToFileURL } from 'node:url';

export const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url));
export const EXAMPLES_DIR = fileURLToPath(new URL('../../', import.meta.url));

const requireFromRoot = createRequire(`${REPO_ROOT}package.json`);
const TSX_LOADER = pathToFileURL(requireFromRoot.resolve('tsx')).href;

export interface ProcessResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  timedOut: boolean;
  durationMs: number;
}

export interface RunOptions {
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  timeoutMs?: number;
  args?: string[];
}

/** Runs `file` with Node + tsx and collects its output; kills it (SIGKILL) after `timeoutMs`. */
export function runTypeScript(file: string, options: RunOptions = {}): Promise<ProcessResult> {
  const args = ['--conditions=@stabilize/source', '--import', TSX_LOADER, file, ...(options.args ?? [])];
  return runProcess(process.execPath, args, options);
}

export function runProcess(command: string, args: string[], options: RunOptions = {}): Promise<ProcessResult> {
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, {
      cwd: options.cwd ?? EXAMPLES_DIR,
      env: { ...process.env, NODE_OPTIONS: '', FORCE_COLOR: '0', ...options.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, options.timeoutMs ?? 60_000);
    child.on('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr, timedOut, durationMs: Math.round(performance.now() - started) });
    });
  });
}

/** Maps `items` through `fn` with at most `limit` in flight, keeping the order of the results. */
export async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const index = next++;
      results[index] = await fn(items[index]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}

/** A one-paragraph description of a failed run, for assertion messages. */
export function describeFailure(what: string, result: ProcessResult): string {
  const how = result.timedOut ? 'timed out' : result.signal ? `was killed by ${result.signal}` : `exited with code ${result.code}`;
  return `${what} ${how} after ${result.durationMs} ms\n--- stdout ---\n${result.stdout.slice(-4000)}\n--- stderr ---\n${result.stderr.slice(-4000)}`;
}
