import { execFileSync } from 'node:child_process';
import { realpathSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { WorkflowStatus } from '@stabilize/core';
import { describe, expect, it } from 'vitest';
import { createEngine, processesWith, runTask, stage, workflow } from './helpers.js';

const fixtures = realpathSync(fileURLToPath(new URL('./fixtures', import.meta.url)));
const python = execFileSync('sh', ['-c', 'command -v python3'], { encoding: 'utf8' }).trim();

describe('PythonTask (§8 scenarios 28-33)', () => {
  it(`28: RESULT becomes outputs.result (python3 at ${python})`, async () => {
    const s = await runTask('python', { script: 'RESULT = {"sum": INPUT["a"] + INPUT["b"]}\nprint("computed")', inputs: { a: 2, b: 3 } });
    expect(s.status).toBe(WorkflowStatus.SUCCEEDED);
    expect(s.outputs).toMatchObject({ result: { sum: 5 }, exit_code: 0, stdout: 'computed', stderr: '', truncated: false });
  });

  it('29: INPUT holds upstream outputs; inputs beat context, context beats ancestors', async () => {
    const engine = createEngine();
    const wf = workflow(
      stage({ refId: 'up', task: 'node', context: { script: 'return { upstream_value: 21, key: "ancestor", key2: "ancestor" }' } }),
      stage({
        refId: 'py',
        task: 'python',
        requisiteStageRefIds: ['up'],
        context: { script: 'RESULT = {"v": INPUT["upstream_value"] * 2, "key": INPUT["key"], "key2": INPUT["key2"], "has_script": "script" in INPUT}', key: 'context', key2: 'context', inputs: { key2: 'inputs' } },
      }),
    );
    const result = await engine.run(wf);
    expect(result.stageByRefId('py')!.outputs.result).toEqual({ v: 42, key: 'context', key2: 'inputs', has_script: false });
  });

  it('30: exactly one mode, and valid names', async () => {
    const cases: Array<[Record<string, unknown>, string]> = [
      [{}, "One of 'script', 'script_file', or 'module' must be specified"],
      [{ script: 'x=1', module: 'json', function: 'dumps' }, "Only one of 'script', 'script_file', or 'module' can be specified"],
      [{ module: 'json' }, "'function' is required when using 'module' mode"],
      [{ module: 'os; import sys', function: 'x' }, "Failed to generate script: Invalid module name: 'os; import sys'"],
      [{ module: 'json', function: 'dumps()' }, "Failed to generate script: Invalid function name: 'dumps()'"],
      [{ script_file: '/tmp/../etc/passwd' }, "Failed to generate script: Path traversal blocked in script_file: '/tmp/../etc/passwd'"],
      [{ script_file: '/no/such/file.py' }, 'Failed to generate script: Script file not found: /no/such/file.py'],
    ];
    for (const [context, message] of cases) {
      const s = await runTask('python', context);
      expect(s.status).toBe(WorkflowStatus.TERMINAL);
      expect(s.context.error).toBe(message);
    }
  });

  it('31: syntax errors, exceptions and sys.exit', async () => {
    const syntax = await runTask('python', { script: 'def broken(:\n  pass' });
    expect(syntax.status).toBe(WorkflowStatus.TERMINAL);
    expect(syntax.context.exit_code).not.toBe(0);
    expect(String(syntax.context.stderr)).toContain('SyntaxError');
    const raised = await runTask('python', { script: 'raise ValueError("bad value")' });
    expect(String(raised.context.stderr)).toContain('ValueError: bad value');
    expect(String(raised.context.error)).toMatch(/^Python script failed with exit code 1: /);
    const exited = await runTask('python', { script: 'import sys\nsys.exit(1)', continue_on_failure: true });
    expect(exited.status).toBe(WorkflowStatus.FAILED_CONTINUE);
    expect(exited.outputs.exit_code).toBe(1);
    expect(exited.context.error).toBe('Python script failed with exit code 1');
  });

  it('32: timeout kills the interpreter; env, cwd and args reach the script', async () => {
    const marker = `stabilize-py-${process.pid}-${Date.now()}`;
    const slow = await runTask('python', { script: `import subprocess, time\nsubprocess.Popen(["sh", "-c", "sleep 30; : ${marker}"])\ntime.sleep(10)`, timeout: 1 });
    expect(slow.status).toBe(WorkflowStatus.TERMINAL);
    expect(slow.context.error).toBe('Python script timed out after 1s');
    expect(processesWith(marker)).toEqual([]);
    const env = await runTask('python', {
      script: 'import os, sys\nRESULT = {"argv": sys.argv[1:], "env": os.environ["MY_ENV"], "cwd": os.getcwd()}',
      args: ['--flag', 'value'],
      env: { MY_ENV: 'set' },
      cwd: fixtures,
    });
    expect(env.outputs.result).toEqual({ argv: ['--flag', 'value'], env: 'set', cwd: fixtures });
  });

  it('33: module mode calls module.function(INPUT), also from a local module and a dotted path', async () => {
    const json = await runTask('python', { module: 'json', function: 'dumps', inputs: { key: 'value' } });
    expect(json.outputs.result).toBe('{"key": "value"}');
    const noCache = { PYTHONDONTWRITEBYTECODE: '1' }; // keep __pycache__ out of the fixtures folder
    const local = await runTask('python', { module: 'helpers_mod', function: 'double', cwd: fixtures, env: noCache, value: 21 });
    expect(local.outputs.result).toEqual({ doubled: 42 });
    const dotted = await runTask('python', { module: 'helpers_mod', function: 'Tools.shout', cwd: fixtures, env: noCache, word: 'hey' });
    expect(dotted.outputs.result).toBe('HEY');
  });

  it('script_file runs the file itself; a large stdout never loses the result (deviations)', async () => {
    const file = await runTask('python', { script_file: join(fixtures, 'script_file.py'), value: 1 });
    expect(file.outputs.result).toEqual({ file: 'script_file.py', value: 2 });
    const big = await runTask('python', { script: 'print("x" * 5000)\nRESULT = {"ok": True}', max_output_size: 100 });
    expect(big.outputs.truncated).toBe(true);
    expect(big.outputs.result).toEqual({ ok: true });
    expect(String(big.outputs.stdout)).toBe('x'.repeat(100));
    const none = await runTask('python', { script: 'RESULT = None' });
    expect(none.outputs).not.toHaveProperty('result');
    const unserializable = await runTask('python', { script: 'RESULT = {1, 2}' });
    expect(unserializable.status).toBe(WorkflowStatus.SUCCEEDED);
    expect(unserializable.outputs).not.toHaveProperty('result');
    expect(String(unserializable.outputs.stderr)).toContain('RESULT is not JSON-serializable');
  });

  it('a missing interpreter fails with "Python execution failed"', async () => {
    const s = await runTask('python', { script: 'RESULT = 1', python_path: '/no/such/python3' });
    expect(s.context.error).toMatch(/^Python execution failed: spawn \/no\/such\/python3 ENOENT/);
  });
});

describe('NodeScriptTask (node / script)', () => {
  it('an inline script returns a value or assigns RESULT; a plain object is spread into outputs', async () => {
    const s = await runTask('node', { script: 'console.log("hi"); return { sum: INPUT.a + INPUT.b };', inputs: { a: 2, b: 3 } });
    expect(s.status).toBe(WorkflowStatus.SUCCEEDED);
    expect(s.outputs).toMatchObject({ sum: 5, result: { sum: 5 }, exit_code: 0, stdout: 'hi', truncated: false });
    const arrow = await runTask('node', { script: 'async (input) => ({ doubled: input.value * 2 })', value: 21 });
    expect(arrow.outputs.result).toEqual({ doubled: 42 });
    const fn = await runTask('node', { script: 'function (input) {\n  return input.items.length; // counted\n}', items: [1, 2, 3] });
    expect(fn.outputs.result).toBe(3);
    const expression = await runTask('node', { script: 'INPUT.a * 10', a: 4 });
    expect(expression.outputs.result).toBe(40);
    const assigned = await runTask('script', { script: 'await new Promise((r) => setTimeout(r, 10)); RESULT = [INPUT.x, typeof require];', x: 'y' });
    expect(assigned.outputs.result).toEqual(['y', 'function']);
  });

  it('module + function: a built-in module, a local ES module, a dotted path and a TypeScript module', async () => {
    const qs = await runTask('node', { module: 'node:querystring', function: 'stringify', inputs: { key: 'value' } });
    expect(qs.outputs.result).toBe('key=value');
    const local = await runTask('node', { module: './math-module.mjs', function: 'double', cwd: fixtures, value: 21 });
    expect(local.outputs.result).toEqual({ doubled: 42 });
    expect(local.outputs.doubled).toBe(42);
    const dotted = await runTask('node', { module: join(fixtures, 'math-module.mjs'), function: 'tools.shout', word: 'hey' });
    expect(dotted.outputs.result).toBe('HEY');
    const ts = await runTask('node', { module: join(fixtures, 'typed-module.ts'), function: 'triple', value: 5 });
    expect(ts.status).toBe(WorkflowStatus.SUCCEEDED);
    expect(ts.outputs.result).toEqual({ tripled: 15, runtime: 'typescript' });
    const notFn = await runTask('node', { module: join(fixtures, 'math-module.mjs'), function: 'nothing', value: 1 });
    expect(notFn.status).toBe(WorkflowStatus.TERMINAL);
    expect(String(notFn.context.stderr)).toContain("'nothing' is not a function");
  });

  it('script_file runs a module that sets RESULT, with args', async () => {
    const s = await runTask('node', { script_file: join(fixtures, 'script-file.mjs'), value: 1, args: ['--flag', 'value'] });
    expect(s.outputs.result).toEqual({ file: 'script-file.mjs', value: 2, args: ['--flag', 'value'] });
  });

  it('mode validation, errors, exit codes and continue_on_failure', async () => {
    expect((await runTask('node', {})).context.error).toBe("One of 'script', 'script_file', or 'module' must be specified");
    expect((await runTask('node', { module: 'x' })).context.error).toBe("'function' is required when using 'module' mode");
    expect((await runTask('node', { module: '../x.js', function: 'f' })).context.error).toBe("Failed to generate script: Invalid module name: '../x.js'");
    expect((await runTask('node', { module: 'x', function: 'a-b' })).context.error).toBe("Failed to generate script: Invalid function name: 'a-b'");
    const syntax = await runTask('node', { script: 'return {' });
    expect(syntax.status).toBe(WorkflowStatus.TERMINAL);
    expect(String(syntax.context.stderr)).toContain('SyntaxError');
    const thrown = await runTask('node', { script: 'throw new RangeError("too far")' });
    expect(String(thrown.context.error)).toMatch(/^Node script failed with exit code 1: RangeError: too far/);
    const exited = await runTask('node', { script: 'process.exit(3)', continue_on_failure: true });
    expect(exited.status).toBe(WorkflowStatus.FAILED_CONTINUE);
    expect(exited.outputs.exit_code).toBe(3);
  });

  it('a timeout kills the process group; env, cwd and args reach the script', async () => {
    const marker = `stabilize-node-${process.pid}-${Date.now()}`;
    const slow = await runTask('node', {
      script: `const { spawn } = await import('node:child_process'); spawn('sh', ['-c', 'sleep 30; : ${marker}'], { stdio: 'ignore' }); await new Promise((r) => setTimeout(r, 10000));`,
      timeout: 1,
    });
    expect(slow.context.error).toBe('Node script timed out after 1s');
    expect(processesWith(marker)).toEqual([]);
    const env = await runTask('node', { script: 'return { argv: process.argv.slice(2), env: process.env.MY_ENV, cwd: process.cwd() }', args: ['--flag', 'value'], env: { MY_ENV: 'set' }, cwd: fixtures });
    expect(env.outputs.result).toEqual({ argv: ['--flag', 'value'], env: 'set', cwd: fixtures });
  });
});
