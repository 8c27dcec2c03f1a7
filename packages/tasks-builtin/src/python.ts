import type { Readable, Writable } from 'node:stream';
import { statSync } from 'node:fs';
import { type StageExecution, type Task, type TaskContext, TaskResult } from '@stabilize/core';
import { mergeEnv } from './internal/context.js';
import { runProcess } from './internal/process.js';
import { readScriptSettings, ScriptConfigError, type ScriptOutcome, scriptResult } from './internal/script-common.js';

const PY_NAME = /^[a-zA-Z_][a-zA-Z0-9_.]*$/;
/** Largest RESULT accepted on the result channel. */
const MAX_RESULT_BYTES = 64 * 1024 * 1024;

// The wrapper the interpreter runs. INPUT arrives as JSON on fd 3; the JSON of RESULT leaves on fd 4,
// so user output can never be confused with the result and truncating stdout cannot lose it.
const WRAPPER = `
import importlib, json, os, sys
def _stabilize_main():
    with os.fdopen(3, 'rb') as _f:
        _payload = json.loads(_f.read().decode('utf-8'))
    _out = os.fdopen(4, 'w', encoding='utf-8')
    INPUT = _payload['input']
    _mode = _payload['mode']
    if _mode == 'module':
        sys.argv = [_payload['module']] + _payload['args']
        if os.getcwd() not in sys.path:
            sys.path.insert(0, os.getcwd())
        _target = importlib.import_module(_payload['module'])
        for _part in _payload['function'].split('.'):
            _target = getattr(_target, _part)
        _result = _target(INPUT)
        _has = True
    else:
        if _mode == 'file':
            _name = os.path.abspath(_payload['path'])
            with open(_name, 'rb') as _f:
                _source = _f.read()
            sys.path.insert(0, os.path.dirname(_name))
        else:
            _name = '<script>'
            _source = _payload['source']
        sys.argv = [_name] + _payload['args']
        _globals = {'__name__': '__main__', '__file__': _name, '__builtins__': __builtins__, 'INPUT': INPUT}
        exec(compile(_source, _name, 'exec'), _globals)
        _has = 'RESULT' in _globals
        _result = _globals.get('RESULT')
    if _has and _result is not None:
        try:
            _text = json.dumps(_result)
        except (TypeError, ValueError) as _e:
            sys.stderr.write('RESULT is not JSON-serializable: %s\\n' % _e)
        else:
            _out.write(_text)
    _out.close()
_stabilize_main()
`;

export interface PythonTaskOptions {
  /** Interpreter when the context has no `python_path`. Default `python3` (looked up on PATH). */
  pythonPath?: string;
  killGraceMs?: number;
}

/**
 * Runs Python code (`script`, `script_file` or `module` + `function`) with the stage context as
 * `INPUT`; the value of `RESULT` (or the function's return value) becomes `outputs.result`.
 * Registered as `python`. See the package README.
 */
export class PythonTask implements Task {
  readonly aliases = ['PythonTask'];
  constructor(private readonly options: PythonTaskOptions = {}) {}

  async execute(stage: StageExecution, ctx: TaskContext): Promise<TaskResult> {
    const c = stage.context;
    let settings: ReturnType<typeof readScriptSettings>;
    try {
      settings = readScriptSettings(c, { module: (m) => PY_NAME.test(m), fn: (f) => PY_NAME.test(f) });
    } catch (error) {
      if (error instanceof ScriptConfigError) return TaskResult.terminal(error.message);
      throw error;
    }
    if (settings.cwd !== undefined && !isDirectory(settings.cwd)) return TaskResult.terminal(`Python execution failed: working directory does not exist: ${settings.cwd}`);
    const payload: Record<string, unknown> = { mode: settings.mode.kind, input: settings.input, args: settings.args };
    if (settings.mode.kind === 'script') payload.source = settings.mode.source;
    else if (settings.mode.kind === 'file') payload.path = settings.mode.path;
    else {
      payload.module = settings.mode.module;
      payload.function = settings.mode.fn;
    }
    const python = typeof c.python_path === 'string' && c.python_path !== '' ? c.python_path : (this.options.pythonPath ?? 'python3');
    const resultChunks: Buffer[] = [];
    let resultBytes = 0;
    const run = await runProcess({
      file: python,
      args: ['-c', WRAPPER],
      cwd: settings.cwd,
      env: mergeEnv(c.env),
      timeoutMs: settings.timeoutS * 1000,
      signal: ctx.signal,
      maxOutputBytes: settings.maxOutput,
      killGraceMs: this.options.killGraceMs,
      extraStdio: ['pipe', 'pipe'],
      onSpawn: (child) => {
        (child.stdio[3] as Writable).end(JSON.stringify(payload));
        (child.stdio[4] as Readable).on('data', (chunk: Buffer) => {
          resultBytes += chunk.length;
          if (resultBytes <= MAX_RESULT_BYTES) resultChunks.push(chunk);
        });
      },
    });
    const outcome: ScriptOutcome = { run, result: { present: false } };
    if (resultBytes > 0 && resultBytes <= MAX_RESULT_BYTES && run.exitCode === 0) {
      try {
        outcome.result = { present: true, value: JSON.parse(Buffer.concat(resultChunks).toString('utf8')) };
      } catch {
        // unparseable: result stays absent
      }
    }
    return scriptResult('Python', settings, outcome);
  }
}

function isDirectory(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}
