// What PythonTask and NodeScriptTask share: mode selection, INPUT assembly and the result rules.
import { existsSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import { type Context, TaskResult } from '@stabilize/core';
import { failure, hasTraversal, isPlainObject, MiB, numberOr, stringList, truthy } from './context.js';
import type { RunProcessResult } from './process.js';

export const SCRIPT_DEFAULT_TIMEOUT_S = 60;
export const SCRIPT_DEFAULT_MAX_OUTPUT = 10 * MiB;

/** Keys that configure the task and are left out of INPUT. */
export const SCRIPT_CONFIG_KEYS: ReadonlySet<string> = new Set([
  'script',
  'script_file',
  'module',
  'function',
  'args',
  'python_path',
  'node_path',
  'timeout',
  'cwd',
  'env',
  'continue_on_failure',
  'inputs',
]);

export type ScriptMode = { kind: 'script'; source: string } | { kind: 'file'; path: string } | { kind: 'module'; module: string; fn: string };

export class ScriptConfigError extends Error {}

export interface ScriptSettings {
  mode: ScriptMode;
  input: Context;
  args: string[];
  timeoutS: number;
  maxOutput: number;
  cwd: string | undefined;
  continueOnFailure: boolean;
}

/**
 * Reads the mode keys (`script` | `script_file` | `module` + `function`), the INPUT (context minus
 * config keys, then `inputs`) and the process settings. Throws ScriptConfigError with the upstream text.
 */
export function readScriptSettings(c: Context, validate: { module: (m: string) => boolean; fn: (f: string) => boolean }): ScriptSettings {
  const given = (['script', 'script_file', 'module'] as const).filter((k) => typeof c[k] === 'string' && c[k] !== '');
  if (given.length === 0) throw new ScriptConfigError("One of 'script', 'script_file', or 'module' must be specified");
  if (given.length > 1) throw new ScriptConfigError("Only one of 'script', 'script_file', or 'module' can be specified");
  let mode: ScriptMode;
  if (given[0] === 'script') {
    mode = { kind: 'script', source: c.script as string };
  } else if (given[0] === 'script_file') {
    const path = c.script_file as string;
    if (hasTraversal(path)) throw new ScriptConfigError(`Failed to generate script: Path traversal blocked in script_file: '${path}'`);
    if (!existsSync(path) || !statSync(path).isFile()) throw new ScriptConfigError(`Failed to generate script: Script file not found: ${path}`);
    mode = { kind: 'file', path: resolve(path) };
  } else {
    const module = c.module as string;
    const fn = typeof c.function === 'string' ? c.function : '';
    if (fn === '') throw new ScriptConfigError("'function' is required when using 'module' mode");
    if (!validate.module(module)) throw new ScriptConfigError(`Failed to generate script: Invalid module name: '${module}'`);
    if (!validate.fn(fn)) throw new ScriptConfigError(`Failed to generate script: Invalid function name: '${fn}'`);
    mode = { kind: 'module', module, fn };
  }
  const input: Context = {};
  for (const [key, value] of Object.entries(c)) if (!SCRIPT_CONFIG_KEYS.has(key)) input[key] = value;
  if (isPlainObject(c.inputs)) Object.assign(input, c.inputs);
  return {
    mode,
    input,
    args: stringList(c.args),
    timeoutS: numberOr(c.timeout, SCRIPT_DEFAULT_TIMEOUT_S),
    maxOutput: numberOr(c.max_output_size, SCRIPT_DEFAULT_MAX_OUTPUT),
    cwd: typeof c.cwd === 'string' && c.cwd !== '' ? c.cwd : undefined,
    continueOnFailure: truthy(c.continue_on_failure),
  };
}

export interface ScriptOutcome {
  run: RunProcessResult;
  /** The parsed RESULT, when there is one. */
  result: { present: boolean; value?: unknown };
  /** Extra outputs (e.g. the spread result object of a Node script). */
  extra?: Context;
}

/** Maps a finished run to the task result (upstream PythonTask rules, `label` = 'Python' | 'Node'). */
export function scriptResult(label: string, settings: ScriptSettings, outcome: ScriptOutcome): TaskResult {
  const { run } = outcome;
  const ladder = { continueOnFailure: settings.continueOnFailure };
  if (run.spawnError) return TaskResult.terminal(`${label} execution failed: ${run.spawnError.message}`);
  if (run.aborted && !run.timedOut) return TaskResult.canceled();
  if (run.timedOut) return failure(`${label} script timed out after ${settings.timeoutS}s`, {}, ladder);
  const stderr = run.stderr.toString('utf8');
  const outputs: Context = {
    ...(outcome.extra ?? {}),
    stdout: run.stdout.toString('utf8').trim(),
    stderr,
    exit_code: run.exitCode ?? -1,
    truncated: run.stdoutTruncated || run.stderrTruncated,
  };
  if (outcome.result.present && outcome.result.value !== null && outcome.result.value !== undefined) outputs.result = outcome.result.value;
  if (run.exitCode === 0) return TaskResult.success({ outputs });
  let message = `${label} script failed with exit code ${run.exitCode ?? -1}`;
  if (stderr !== '') message += `: ${stderr.slice(0, 200)}`;
  return failure(message, outputs, ladder);
}
