// Runs a child process in its own process group (detached => setsid) so the whole tree can be
// signalled at once: on timeout, on abort (stage canceled) and, by default, when the main process
// exits while background children are still around. Output is capped while it streams.
import { type ChildProcess, spawn, type StdioOptions } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { constants } from 'node:os';

const MAX_TIMER_MS = 2_147_483_647;

export interface RunProcessOptions {
  file: string;
  args: readonly string[];
  cwd?: string | undefined;
  env?: NodeJS.ProcessEnv | undefined;
  /** Data piped to stdin; `null`/`undefined` gives the child an empty stdin (`'ignore'`). */
  stdin?: string | Buffer | null | undefined;
  timeoutMs: number;
  signal?: AbortSignal | undefined;
  /** Cap for stdout and for stderr, each, in bytes. */
  maxOutputBytes: number;
  /** Time between SIGTERM and SIGKILL of the group. Default 5000 ms. */
  killGraceMs?: number | undefined;
  /** stdio entries for fd 3 and up ('pipe' or 'ipc'). */
  extraStdio?: ReadonlyArray<'pipe' | 'ipc'> | undefined;
  /** Called once the child is spawned (write to extra fds, send IPC messages). */
  onSpawn?: ((child: ChildProcess) => void) | undefined;
  /** Terminate processes left in the group after the main process exits. Default true. */
  reapGroupOnExit?: boolean | undefined;
}

export interface RunProcessResult {
  pid: number | undefined;
  /** Exit code, or minus the signal number when the process was killed by a signal. */
  exitCode: number | null;
  exitSignal: NodeJS.Signals | null;
  stdout: Buffer;
  stderr: Buffer;
  stdoutTruncated: boolean;
  stderrTruncated: boolean;
  timedOut: boolean;
  aborted: boolean;
  /** Set when the process could not be started (ENOENT, EACCES, ...). */
  spawnError?: NodeJS.ErrnoException;
}

/** Keeps the first `max` bytes of a stream and drops the rest (the stream is still drained). */
class CappedBuffer {
  private readonly chunks: Buffer[] = [];
  private size = 0;
  truncated = false;
  constructor(private readonly max: number) {}
  push(chunk: Buffer): void {
    const room = this.max - this.size;
    if (room <= 0) {
      if (chunk.length > 0) this.truncated = true;
      return;
    }
    if (chunk.length > room) {
      this.chunks.push(chunk.subarray(0, room));
      this.size += room;
      this.truncated = true;
    } else {
      this.chunks.push(chunk);
      this.size += chunk.length;
    }
  }
  toBuffer(): Buffer {
    return Buffer.concat(this.chunks, this.size);
  }
}

// ---- live process groups, killed when this process goes away ------------------------------------

const liveGroups = new Set<number>();
const forwardedSignals: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];
let exitHookInstalled = false;
let signalHooksInstalled = false;

function killGroup(pgid: number, signal: NodeJS.Signals | 0): boolean {
  try {
    process.kill(-pgid, signal);
    return true;
  } catch {
    return false; // ESRCH: the group is gone
  }
}

function killAllGroups(): void {
  for (const pgid of liveGroups) killGroup(pgid, 'SIGKILL');
  liveGroups.clear();
}

function onFatalSignal(signal: NodeJS.Signals): void {
  killAllGroups();
  uninstallSignalHooks();
  // Without other listeners the default action (terminate) applies again: re-raise it.
  if (process.listenerCount(signal) === 0) process.kill(process.pid, signal);
}

function installHooks(): void {
  if (!exitHookInstalled) {
    process.on('exit', killAllGroups);
    exitHookInstalled = true;
  }
  if (!signalHooksInstalled) {
    for (const s of forwardedSignals) process.on(s, onFatalSignal);
    signalHooksInstalled = true;
  }
}

function uninstallSignalHooks(): void {
  if (!signalHooksInstalled) return;
  for (const s of forwardedSignals) process.off(s, onFatalSignal);
  signalHooksInstalled = false;
}

function trackGroup(pgid: number): void {
  liveGroups.add(pgid);
  installHooks();
}

function untrackGroup(pgid: number): void {
  liveGroups.delete(pgid);
  if (liveGroups.size === 0) uninstallSignalHooks();
}

/** Process groups started by this module that may still be alive (for diagnostics and tests). */
export function liveProcessGroups(): number[] {
  return [...liveGroups];
}

/** Whether `pid` is a running process (zombies count as gone). */
export function isProcessAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    return state !== 'Z' && state !== 'X';
  } catch {
    return true; // no procfs: trust kill(0)
  }
}

function signalNumber(signal: NodeJS.Signals): number {
  return (constants.signals as Record<string, number>)[signal] ?? 0;
}

/**
 * Spawns `file args` detached (own session and process group), feeds stdin, captures output up to
 * the cap, and resolves once the process has exited and its pipes have closed. On timeout or abort
 * the group gets SIGTERM, then SIGKILL after the grace period. Never rejects.
 */
export function runProcess(options: RunProcessOptions): Promise<RunProcessResult> {
  const graceMs = options.killGraceMs ?? 5000;
  const stdout = new CappedBuffer(options.maxOutputBytes);
  const stderr = new CappedBuffer(options.maxOutputBytes);
  const result = (init: Partial<RunProcessResult>): RunProcessResult => ({
    pid: undefined,
    exitCode: null,
    exitSignal: null,
    stdout: stdout.toBuffer(),
    stderr: stderr.toBuffer(),
    stdoutTruncated: stdout.truncated,
    stderrTruncated: stderr.truncated,
    timedOut: false,
    aborted: false,
    ...init,
  });
  if (options.signal?.aborted) return Promise.resolve(result({ aborted: true }));

  const hasStdin = options.stdin !== null && options.stdin !== undefined;
  const stdio: StdioOptions = [hasStdin ? 'pipe' : 'ignore', 'pipe', 'pipe', ...(options.extraStdio ?? [])];
  let child: ChildProcess;
  try {
    child = spawn(options.file, [...options.args], { cwd: options.cwd, env: options.env, detached: true, stdio, windowsHide: true });
  } catch (error) {
    return Promise.resolve(result({ spawnError: error as NodeJS.ErrnoException }));
  }

  return new Promise<RunProcessResult>((resolve) => {
    const pid = child.pid;
    let timedOut = false;
    let aborted = false;
    let exitCode: number | null = null;
    let exitSignal: NodeJS.Signals | null = null;
    let terminating = false;
    let killTimer: NodeJS.Timeout | undefined;
    let closeFallback: NodeJS.Timeout | undefined;
    let settled = false;

    if (pid !== undefined) trackGroup(pid);

    const terminate = () => {
      if (terminating || pid === undefined) return;
      terminating = true;
      if (!killGroup(pid, 'SIGTERM')) {
        untrackGroup(pid);
        return;
      }
      killTimer = setTimeout(() => {
        killGroup(pid, 'SIGKILL');
        untrackGroup(pid);
      }, graceMs);
    };

    const timer = setTimeout(
      () => {
        timedOut = true;
        terminate();
      },
      Math.min(Math.max(0, options.timeoutMs), MAX_TIMER_MS),
    );
    const onAbort = () => {
      aborted = true;
      terminate();
    };
    options.signal?.addEventListener('abort', onAbort, { once: true });

    const finish = (init: Partial<RunProcessResult>) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      clearTimeout(closeFallback);
      options.signal?.removeEventListener('abort', onAbort);
      // A SIGKILL already scheduled keeps running for stragglers that ignore SIGTERM.
      if (pid !== undefined) {
        if (!terminating) untrackGroup(pid);
        else if (killTimer !== undefined && !killGroup(pid, 0)) {
          clearTimeout(killTimer);
          untrackGroup(pid);
        }
      }
      resolve(result({ pid, exitCode, exitSignal, timedOut, aborted, ...init }));
    };

    child.stdout?.on('data', (chunk: Buffer) => stdout.push(chunk));
    child.stderr?.on('data', (chunk: Buffer) => stderr.push(chunk));
    child.stdin?.on('error', () => undefined); // EPIPE when the child does not read its input
    for (const stream of child.stdio.slice(3)) (stream as NodeJS.EventEmitter | null)?.on?.('error', () => undefined);

    child.on('error', (error: NodeJS.ErrnoException) => {
      if (pid === undefined) finish({ spawnError: error });
    });
    child.once('exit', (code, signal) => {
      exitCode = code ?? (signal ? -signalNumber(signal) : null);
      exitSignal = signal;
      // Background children that outlived the main process still hold the group (and maybe the pipes).
      if (pid !== undefined && options.reapGroupOnExit !== false && killGroup(pid, 0)) terminate();
      closeFallback = setTimeout(() => {
        for (const stream of child.stdio) (stream as { destroy?: () => void } | null)?.destroy?.();
        finish({});
      }, graceMs + 2000);
    });
    child.once('close', () => finish({}));

    if (pid !== undefined) {
      if (hasStdin) child.stdin?.end(options.stdin);
      try {
        options.onSpawn?.(child);
      } catch {
        terminate();
      }
    }
  });
}
