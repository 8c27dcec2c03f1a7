import { statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { type Context, type StageExecution, type Task, type TaskContext, TaskResult } from '@stabilize/core';
import { hasTraversal, isPlainObject, mergeEnv } from './internal/context.js';
import { runProcess } from './internal/process.js';
import { readScriptSettings, ScriptConfigError, type ScriptMode, type ScriptOutcome, scriptResult } from './internal/script-common.js';

/** Largest RESULT accepted over IPC. */
const MAX_RESULT_CHARS = 64 * 1024 * 1024;
const JS_IDENTIFIER_PATH = /^[A-Za-z_$][\w$]*(\.[A-Za-z_$][\w$]*)*$/;
const TS_EXTENSION = /\.(ts|mts|cts|tsx)$/i;

// The program the child Node process evaluates (an ES module). It receives the payload over IPC,
// runs the user code with INPUT, and sends the JSON of the result back over IPC before exiting.
const RUNNER = `
import { createRequire } from 'node:module';
import { isAbsolute, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
process.once('message', async (payload) => {
  try {
    globalThis.INPUT = payload.input;
    process.argv = [process.execPath, payload.argv0, ...payload.args];
    let value;
    if (payload.mode === 'script') {
      const AsyncFunction = Object.getPrototypeOf(async function () {}).constructor;
      const require = createRequire(resolve(process.cwd(), '[script].cjs'));
      // A function expression ("(input) => ...") is called with INPUT; anything else is a function body.
      let asExpression = null;
      try {
        asExpression = new AsyncFunction('INPUT', 'require', 'return (\\n' + payload.source + '\\n);');
      } catch {
        asExpression = null;
      }
      if (asExpression) {
        value = await asExpression(payload.input, require);
        if (typeof value === 'function') value = await value(payload.input);
      } else {
        value = await new AsyncFunction('INPUT', 'require', payload.source)(payload.input, require);
      }
      if (value === undefined) value = globalThis.RESULT;
    } else if (payload.mode === 'file') {
      await import(pathToFileURL(resolve(payload.path)).href);
      value = globalThis.RESULT;
    } else {
      const spec = payload.module;
      const target = spec.startsWith('.') || isAbsolute(spec) ? pathToFileURL(resolve(spec)).href : spec;
      let fn = await import(target);
      let self;
      for (const part of payload.function.split('.')) {
        self = fn;
        fn = fn == null ? undefined : fn[part];
      }
      if (typeof fn !== 'function') throw new TypeError("'" + payload.function + "' is not a function exported by " + spec);
      value = await fn.call(self, payload.input);
    }
    let json = null;
    if (value !== undefined) {
      try {
        json = JSON.stringify(value) ?? null;
      } catch (error) {
        process.stderr.write('RESULT is not JSON-serializable: ' + error.message + '\\n');
      }
    }
    process.send({ type: 'result', json }, () => process.exit(0));
  } catch (error) {
    process.stderr.write(String((error && error.stack) || error) + '\\n');
    process.exit(1);
  }
});
`;

export interface NodeScriptTaskOptions {
  /** Node flags for the child (e.g. a loader). Default: none, plus a TypeScript loader for .ts files. */
  execArgv?: readonly string[];
  killGraceMs?: number;
}

/** Node flags that let the child import TypeScript: tsx when it can be found, else Node's type stripping. */
export function typescriptExecArgv(searchDirs: readonly string[]): string[] | null {
  for (const dir of searchDirs) {
    try {
      const loader = createRequire(join(dir, '__stabilize__.js')).resolve('tsx');
      return ['--import', pathToFileURL(loader).href];
    } catch {
      // not installed there
    }
  }
  if ((process.features as { typescript?: unknown }).typescript) return [];
  const [major = 0, minor = 0] = process.versions.node.split('.').map(Number);
  if (major > 22 || (major === 22 && minor >= 6)) return ['--experimental-strip-types'];
  return null;
}

function validModule(spec: string): boolean {
  if (spec.trim() === '' || spec.startsWith('-')) return false;
  return !hasTraversal(spec);
}

function modulePath(mode: ScriptMode): string | undefined {
  if (mode.kind === 'file') return mode.path;
  if (mode.kind === 'module' && (mode.module.startsWith('.') || isAbsolute(mode.module))) return mode.module;
  return undefined;
}

/**
 * Runs JavaScript or TypeScript in a separate Node process with the stage context as `INPUT`:
 * an inline `script` (a function expression called with INPUT, or a function body that returns a
 * value or assigns `RESULT`), a `script_file` (an ES
 * module that assigns `globalThis.RESULT`), or `module` + `function` (an exported function called
 * with INPUT). The value becomes `outputs.result`; a plain object is also spread into the outputs.
 * Registered as `node` (alias `script`). See the package README.
 */
export class NodeScriptTask implements Task {
  readonly aliases = ['script', 'NodeScriptTask', 'ScriptTask'];
  constructor(private readonly options: NodeScriptTaskOptions = {}) {}

  async execute(stage: StageExecution, ctx: TaskContext): Promise<TaskResult> {
    const c = stage.context;
    let settings: ReturnType<typeof readScriptSettings>;
    try {
      settings = readScriptSettings(c, { module: validModule, fn: (f) => JS_IDENTIFIER_PATH.test(f) });
    } catch (error) {
      if (error instanceof ScriptConfigError) return TaskResult.terminal(error.message);
      throw error;
    }
    const cwd = settings.cwd ?? process.cwd();
    if (settings.cwd !== undefined && !isDirectory(settings.cwd)) return TaskResult.terminal(`Node execution failed: working directory does not exist: ${settings.cwd}`);

    const execArgv = [...(this.options.execArgv ?? [])];
    const path = modulePath(settings.mode);
    if (path !== undefined && TS_EXTENSION.test(path) && this.options.execArgv === undefined) {
      const ts = typescriptExecArgv([cwd, dirname(resolve(cwd, path)), process.cwd()]);
      if (ts === null) return TaskResult.terminal(`Node execution failed: cannot run TypeScript module ${path}: install tsx or use Node >= 22.6`);
      execArgv.push(...ts);
    }
    const mode = settings.mode;
    const argv0 = mode.kind === 'script' ? '[script]' : mode.kind === 'file' ? mode.path : mode.module;
    const payload: Context = { mode: mode.kind, input: settings.input, args: settings.args, argv0 };
    if (mode.kind === 'script') payload.source = mode.source;
    else if (mode.kind === 'file') payload.path = mode.path;
    else {
      payload.module = mode.module;
      payload.function = mode.fn;
    }

    let resultJson: string | null | undefined;
    const node = typeof c.node_path === 'string' && c.node_path !== '' ? c.node_path : process.execPath;
    const run = await runProcess({
      file: node,
      args: [...execArgv, '--input-type=module', '-e', RUNNER, '--', ...settings.args],
      cwd: settings.cwd,
      env: mergeEnv(c.env),
      timeoutMs: settings.timeoutS * 1000,
      signal: ctx.signal,
      maxOutputBytes: settings.maxOutput,
      killGraceMs: this.options.killGraceMs,
      extraStdio: ['ipc'],
      onSpawn: (child) => {
        child.on('message', (message: { type?: string; json?: string | null }) => {
          if (message?.type === 'result' && (message.json === null || (typeof message.json === 'string' && message.json.length <= MAX_RESULT_CHARS))) resultJson = message.json;
        });
        child.send(payload, () => undefined);
      },
    });
    const outcome: ScriptOutcome = { run, result: { present: false } };
    if (typeof resultJson === 'string' && run.exitCode === 0) {
      const value: unknown = JSON.parse(resultJson);
      outcome.result = { present: true, value };
      if (isPlainObject(value)) outcome.extra = value;
    }
    return scriptResult('Node', settings, outcome);
  }
}

function isDirectory(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}
