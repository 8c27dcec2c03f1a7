import { accessSync, constants as fsConstants, realpathSync, statSync } from 'node:fs';
import { isAbsolute } from 'node:path';
import { type Context, type Logger, type StageExecution, type Task, type TaskContext, TaskResult } from '@stabilize/core';
import { failure, MiB, mergeEnv, numberOr, pyList, renderValue, SecretMasker, truthy } from './internal/context.js';
import { runProcess, type RunProcessResult } from './internal/process.js';
import { ShellSplitError, shellQuote, shellSplit } from './internal/quote.js';

/** Context keys that configure ShellTask and are never used as `{placeholders}`. */
export const SHELL_RESERVED_KEYS: ReadonlySet<string> = new Set([
  'command',
  'timeout',
  'cwd',
  'env',
  'shell',
  'stdin',
  'max_output_size',
  'expected_codes',
  'secrets',
  'binary',
  'continue_on_failure',
  'restart_on_failure',
]);

export const SHELL_DEFAULT_TIMEOUT_S = 60;
export const SHELL_DEFAULT_MAX_OUTPUT = 10 * MiB;

export interface ShellTaskOptions {
  /** Receives the (masked) command at debug level. */
  logger?: Logger;
  /** Time between SIGTERM and SIGKILL of the process group on timeout or cancel. Default 5000 ms. */
  killGraceMs?: number;
}

const PLACEHOLDER = /\{([^{}\s]+)\}/g;

/**
 * Replaces each `{key}` of `template` by the context value of `key` (one pass: substituted text is
 * never substituted again). Reserved keys, unknown keys and null values stay literal.
 */
export function substitutePlaceholders(template: string, context: Context, reserved: ReadonlySet<string>, encode: (text: string) => string): string {
  return template.replace(PLACEHOLDER, (match, key: string) => {
    if (reserved.has(key) || !Object.hasOwn(context, key)) return match;
    const value = context[key];
    if (value === null || value === undefined) return match;
    return encode(renderValue(value));
  });
}

function shellError(message: string, masker: SecretMasker): TaskResult {
  return TaskResult.terminal(masker.mask(message));
}

function spawnErrorMessage(error: NodeJS.ErrnoException): string {
  const text = error.message;
  if (error.code === 'ENOENT') return `Command or shell not found: ${text}`;
  if (error.code === 'EACCES' || error.code === 'EPERM') return `Permission denied: ${text}`;
  if (typeof error.code === 'string') return `OS error: ${text}`;
  return `Unexpected error: ${text}`;
}

/**
 * Runs a shell command (`/bin/sh -c` by default) or an argv list, in its own process group.
 * Registered as `shell`. Context keys, outputs and errors: see the package README.
 */
export class ShellTask implements Task {
  readonly aliases = ['ShellTask'];
  constructor(private readonly options: ShellTaskOptions = {}) {}

  async execute(stage: StageExecution, ctx: TaskContext): Promise<TaskResult> {
    const c = stage.context;
    const masker = SecretMasker.fromContext(c, c.secrets, (v) => [shellQuote(v)]);
    const command = c.command;
    const commandMissing = Array.isArray(command) ? command.length === 0 : typeof command !== 'string' || command.trim() === '';
    if (commandMissing) return TaskResult.terminal("No 'command' specified in context");

    const timeout = numberOr(c.timeout, SHELL_DEFAULT_TIMEOUT_S);
    const maxOutput = numberOr(c.max_output_size, SHELL_DEFAULT_MAX_OUTPUT);
    const expected = Array.isArray(c.expected_codes) ? c.expected_codes.filter((v): v is number => Number.isInteger(v)) : [0];
    const binary = truthy(c.binary);
    const ladder = { continueOnFailure: truthy(c.continue_on_failure), restartOnFailure: truthy(c.restart_on_failure) };
    const cwd = typeof c.cwd === 'string' && c.cwd !== '' ? c.cwd : undefined;
    const stdin = c.stdin === null || c.stdin === undefined ? undefined : renderValue(c.stdin);

    // ---- argv ----
    let file: string;
    let args: string[];
    let display: string;
    if (Array.isArray(command)) {
      // An argv list runs without a shell: values are substituted verbatim into their own argument.
      const argv = command.map((part) => substitutePlaceholders(renderValue(part), c, SHELL_RESERVED_KEYS, (t) => t));
      file = argv[0]!;
      args = argv.slice(1);
      display = argv.map(shellQuote).join(' ');
    } else {
      const text = substitutePlaceholders(command as string, c, SHELL_RESERVED_KEYS, shellQuote);
      display = text;
      const shell = c.shell === undefined || c.shell === null ? true : c.shell;
      if (typeof shell === 'string') {
        const problem = checkShellPath(shell);
        if (problem) return shellError(problem, masker);
        file = shell;
        args = ['-c', text];
      } else if (truthy(shell)) {
        file = '/bin/sh';
        args = ['-c', text];
      } else {
        let argv: string[];
        try {
          argv = shellSplit(text);
        } catch (error) {
          if (error instanceof ShellSplitError) return shellError(`Invalid command: ${error.message}`, masker);
          throw error;
        }
        if (argv.length === 0) return TaskResult.terminal("No 'command' specified in context");
        file = argv[0]!;
        args = argv.slice(1);
      }
    }

    if (cwd !== undefined) {
      let isDir = false;
      try {
        isDir = statSync(cwd).isDirectory();
      } catch {
        isDir = false;
      }
      if (!isDir) return shellError(`Command or shell not found: working directory does not exist: ${cwd}`, masker);
    }

    this.options.logger?.debug('ShellTask executing', { command: masker.mask(display), cwd, timeout });

    const run = await runProcess({
      file,
      args,
      cwd,
      env: mergeEnv(c.env),
      stdin,
      timeoutMs: timeout * 1000,
      signal: ctx.signal,
      maxOutputBytes: maxOutput,
      killGraceMs: this.options.killGraceMs,
    });

    if (run.spawnError) return shellError(spawnErrorMessage(run.spawnError), masker);
    const truncated = run.stdoutTruncated || run.stderrTruncated;
    const streams = streamOutputs(run, binary, masker);

    if (run.aborted && !run.timedOut) {
      return TaskResult.canceled({ outputs: { returncode: run.exitCode ?? -1, truncated, ...nonEmpty(streams) } });
    }
    if (run.timedOut) {
      return failure(masker.mask(`Command timed out after ${timeout}s`), { returncode: -1, truncated, ...nonEmpty(streams) }, ladder);
    }
    const returncode = run.exitCode ?? -1;
    const outputs: Context = { returncode, truncated, ...streams };
    if (expected.includes(returncode)) return TaskResult.success({ outputs });
    const stderrText = masker.mask(run.stderr.toString('utf8').trim());
    let message = `Command exited with code ${returncode} (expected: ${pyList(expected)})`;
    if (stderrText !== '') message += `: ${stderrText.slice(0, 200)}`;
    return failure(masker.mask(message), outputs, ladder);
  }
}

function streamOutputs(run: RunProcessResult, binary: boolean, masker: SecretMasker): Context {
  if (binary) return { stdout_b64: run.stdout.toString('base64'), stderr_b64: run.stderr.toString('base64') };
  return { stdout: masker.mask(run.stdout.toString('utf8').trim()), stderr: masker.mask(run.stderr.toString('utf8').trim()) };
}

function nonEmpty(values: Context): Context {
  return Object.fromEntries(Object.entries(values).filter(([, v]) => v !== ''));
}

/** Null when `shell` is an absolute path to an executable file, else the error message. */
function checkShellPath(shell: string): string | null {
  if (!isAbsolute(shell)) return `Shell must be an absolute path: ${shell}`;
  let real: string;
  let mode: number;
  try {
    real = realpathSync(shell);
    const stat = statSync(real);
    if (!stat.isFile()) return `Shell not found: ${shell}`;
    mode = stat.mode;
  } catch {
    return `Shell not found: ${shell}`;
  }
  try {
    accessSync(real, fsConstants.X_OK);
    if ((mode & 0o111) === 0) throw new Error('no execute bit'); // root passes access(X_OK) regardless
  } catch {
    return `Shell not executable: ${shell}`;
  }
  return null;
}
