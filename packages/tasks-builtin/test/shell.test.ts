import { mkdtempSync, readFileSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { WorkflowStatus } from '@stabilize/core';
import { afterAll, describe, expect, it } from 'vitest';
import { createEngine, processesWith, runTask } from './helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'stabilize-shell-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A marker unique to this test run, to find our processes with ps. */
const marker = (tag: string) => `${tag}${process.pid}${Math.floor(Math.random() * 1e6)}`;

describe('ShellTask (§8 scenarios 1-15)', () => {
  it('1: echo hello succeeds with stdout, returncode and truncated', async () => {
    const s = await runTask('shell', { command: 'echo hello' });
    expect(s.status).toBe(WorkflowStatus.SUCCEEDED);
    expect(s.outputs).toMatchObject({ stdout: 'hello', stderr: '', returncode: 0, truncated: false });
  });

  it('2: a missing or empty command is TERMINAL', async () => {
    for (const context of [{}, { command: '' }, { command: '   ' }, { command: [] }]) {
      const s = await runTask('shell', context);
      expect(s.status).toBe(WorkflowStatus.TERMINAL);
      expect(s.context.error).toBe("No 'command' specified in context");
    }
  });

  it('3: cwd is honoured; a missing cwd is TERMINAL "Command or shell not found"', async () => {
    const ok = await runTask('shell', { command: 'pwd', cwd: '/tmp' });
    expect(ok.outputs.stdout).toBe(realpathSync('/tmp'));
    const bad = await runTask('shell', { command: 'pwd', cwd: join(dir, 'does-not-exist') });
    expect(bad.status).toBe(WorkflowStatus.TERMINAL);
    expect(bad.context.error).toMatch(/^Command or shell not found: /);
  });

  it('4: env is merged over the parent environment', async () => {
    const s = await runTask('shell', { command: 'echo "$MY_VAR $HOME $NUM"', env: { MY_VAR: 'hello', NUM: 3 } });
    expect(s.outputs.stdout).toBe(`hello ${process.env.HOME} 3`);
  });

  it('5: a shell path is used and checked', async () => {
    const bash = await runTask('shell', { command: 'echo $BASH_VERSION', shell: '/bin/bash' });
    expect(bash.status).toBe(WorkflowStatus.SUCCEEDED);
    expect(String(bash.outputs.stdout).length).toBeGreaterThan(0);
    const missing = await runTask('shell', { command: 'echo x', shell: '/bin/nonexist' });
    expect(missing.context.error).toBe('Shell not found: /bin/nonexist');
    const plain = join(dir, 'not-a-shell');
    writeFileSync(plain, 'x', { mode: 0o644 });
    const notExec = await runTask('shell', { command: 'echo x', shell: plain });
    expect(notExec.context.error).toBe(`Shell not executable: ${plain}`);
    const relative = await runTask('shell', { command: 'echo x', shell: 'bash' });
    expect(relative.context.error).toBe('Shell must be an absolute path: bash');
  });

  it('6: stdin is piped; without stdin the child reads an empty input', async () => {
    const s = await runTask('shell', { command: 'wc -w', stdin: 'one two three four' });
    expect(s.outputs.stdout).toBe('4');
    const none = await runTask('shell', { command: 'cat; echo done' });
    expect(none.outputs.stdout).toBe('done');
  });

  it('7: output is capped at max_output_size bytes per stream', async () => {
    const s = await runTask('shell', { command: "head -c 1000 /dev/zero | tr '\\0' a; head -c 50 /dev/zero | tr '\\0' b >&2", max_output_size: 100 });
    expect(s.status).toBe(WorkflowStatus.SUCCEEDED);
    expect(s.outputs.truncated).toBe(true);
    expect(String(s.outputs.stdout)).toBe('a'.repeat(100));
    expect(String(s.outputs.stderr)).toBe('b'.repeat(50));
  });

  it('8: expected_codes decide success; the message lists them like upstream', async () => {
    const ok = await runTask('shell', { command: 'false', expected_codes: [0, 1] });
    expect(ok.status).toBe(WorkflowStatus.SUCCEEDED);
    expect(ok.outputs.returncode).toBe(1);
    const bad = await runTask('shell', { command: 'echo oops >&2; exit 5', expected_codes: [0, 1] });
    expect(bad.status).toBe(WorkflowStatus.TERMINAL);
    expect(bad.context.error).toBe('Command exited with code 5 (expected: [0, 1]): oops');
    expect(bad.context.returncode).toBe(5);
    const missingProgram = await runTask('shell', { command: 'no-such-program-xyz' });
    expect(missingProgram.context.error).toMatch(/^Command exited with code 127 \(expected: \[0\]\)/);
  });

  it('9: secrets are masked in stdout, stderr and the error text', async () => {
    const s = await runTask('shell', { command: 'echo {token}', token: 'secret123', secrets: ['token'] });
    expect(s.outputs.stdout).toBe('***');
    const f = await runTask('shell', { command: 'echo "bad $T" >&2; echo {token}; exit 2', token: 's3cr3t value', secrets: ['token'], env: { T: 's3cr3t value' } });
    expect(f.status).toBe(WorkflowStatus.TERMINAL);
    expect(f.context.error).toContain('***');
    expect(JSON.stringify({ error: f.context.error, stdout: f.context.stdout, stderr: f.context.stderr })).not.toContain('s3cr3t');
  });

  it('9b: the command logged at debug level is masked too', async () => {
    const lines: string[] = [];
    const logger = { debug: (m: string, f?: Record<string, unknown>) => lines.push(`${m} ${JSON.stringify(f)}`), info() {}, warn() {}, error() {} };
    const engine = createEngine({ tasks: { logger } });
    await runTask('shell', { command: 'curl -H "Authorization: {token}" http://x.invalid >/dev/null 2>&1; true', token: "tok en'1", secrets: ['token'] }, engine);
    const logged = lines.find((l) => l.startsWith('ShellTask executing'));
    expect(logged).toContain('***');
    expect(logged).not.toContain('tok en');
  });

  it('10: binary mode returns base64 only', async () => {
    const s = await runTask('shell', { command: "printf '%s' hello; printf '\\001\\002' >&2", binary: true });
    expect(s.outputs.stdout_b64).toBe('aGVsbG8=');
    expect(Buffer.from(String(s.outputs.stdout_b64), 'base64').toString()).toBe('hello');
    expect(s.outputs.stderr_b64).toBe(Buffer.from([1, 2]).toString('base64'));
    expect(s.outputs).not.toHaveProperty('stdout');
  });

  it('11: continue_on_failure gives FAILED_CONTINUE with the data in outputs', async () => {
    const s = await runTask('shell', { command: 'exit 1', continue_on_failure: true });
    expect(s.status).toBe(WorkflowStatus.FAILED_CONTINUE);
    expect(s.outputs.returncode).toBe(1);
    expect(s.context.error).toBe('Command exited with code 1 (expected: [0])');
    expect(s.workflowStatus).toBe(WorkflowStatus.SUCCEEDED);
  });

  it('12: a timeout kills the whole process group and keeps partial output', async () => {
    const m = marker('9.');
    const started = Date.now();
    const s = await runTask('shell', { command: `echo pre; sleep ${m} & sleep ${m}; wait`, timeout: 1 });
    expect(Date.now() - started).toBeLessThan(8000);
    expect(s.status).toBe(WorkflowStatus.TERMINAL);
    expect(s.context.error).toBe('Command timed out after 1s');
    expect(s.context.returncode).toBe(-1);
    expect(s.context.stdout).toBe('pre');
    expect(s.context).not.toHaveProperty('stderr'); // empty streams are left out on timeout
    expect(processesWith(`sleep ${m}`)).toEqual([]);
  });

  it('12b: a process that ignores SIGTERM is SIGKILLed after the grace period', async () => {
    const m = marker('8.');
    const engine = createEngine({ tasks: { shell: { killGraceMs: 300 } } });
    const s = await runTask('shell', { command: `trap '' TERM; sleep ${m}`, timeout: 0.5 }, engine);
    expect(s.context.error).toBe('Command timed out after 0.5s');
    expect(processesWith(`sleep ${m}`)).toEqual([]);
  });

  it('12c: background children left behind by a finished command are terminated', async () => {
    const m = marker('7.');
    const s = await runTask('shell', { command: `sleep ${m} >/dev/null 2>&1 & echo started` });
    expect(s.outputs.stdout).toBe('started');
    expect(processesWith(`sleep ${m}`)).toEqual([]);
  });

  it('13: placeholders are quoted, single-pass, reserved and unknown keys stay literal', async () => {
    const s = await runTask('shell', {
      command: 'echo {message} {missing} {timeout} {count} {attack} {obj} {nested}',
      message: 'hi there',
      count: 42,
      attack: 'a b; echo INJECTED',
      obj: { a: 1 },
      nested: '{message}',
    });
    expect(s.outputs.stdout).toBe('hi there {missing} {timeout} 42 a b; echo INJECTED {"a":1} {message}');
    const quote = await runTask('shell', { command: 'echo {msg}', msg: "it's $(whoami) `id`" });
    expect(quote.outputs.stdout).toBe("it's $(whoami) `id`");
    const upstream = await runTask('shell', { command: "echo 'Received: {data}'", data: 'data from stage 1' });
    expect(upstream.outputs.stdout).toBe('Received: data from stage 1');
  });

  it('13b: placeholders read the outputs of upstream stages', async () => {
    const { stage, workflow } = await import('./helpers.js');
    const engine = createEngine();
    const wf = workflow(
      stage({ refId: 'a', task: 'shell', context: { command: 'echo "data from a"' } }),
      stage({ refId: 'b', task: 'shell', requisiteStageRefIds: ['a'], context: { command: 'echo got {stdout}' } }),
    );
    const result = await engine.run(wf);
    expect(result.stageByRefId('b')!.outputs.stdout).toBe('got data from a');
  });

  it('14: restart_on_failure throws TransientError; the engine runs it 10 times, then TERMINAL', async () => {
    const counter = join(dir, 'restarts');
    const s = await runTask('shell', { command: `echo x >> ${counter}; exit 4`, restart_on_failure: true, continue_on_failure: true });
    expect(readFileSync(counter, 'utf8').trim().split('\n')).toHaveLength(10);
    expect(s.status).toBe(WorkflowStatus.TERMINAL);
    expect((s.context._last_outputs as { returncode: number }).returncode).toBe(4);
    const exception = s.context.exception as { details: { error: string; transient: boolean; attempts: number } };
    expect(exception.details.error).toBe('Command exited with code 4 (expected: [0])');
    expect(exception.details.transient).toBe(true);
    expect(exception.details.attempts).toBe(10);
  });

  it('15: shell:false splits the command like a POSIX shell and runs it without a shell (deviation)', async () => {
    const s = await runTask('shell', { command: 'printf "%s|" one "two three" {v}', shell: false, v: 'a; echo INJECTED' });
    expect(s.outputs.stdout).toBe('one|two three|a; echo INJECTED|');
    const missing = await runTask('shell', { command: 'no-such-program-xyz --flag', shell: false });
    expect(missing.status).toBe(WorkflowStatus.TERMINAL);
    expect(missing.context.error).toMatch(/^Command or shell not found: /);
  });

  it('an argv list runs without a shell, values substituted verbatim', async () => {
    const s = await runTask('shell', { command: ['printf', '%s|', '{v}', '$HOME'], v: "x'; rm -rf /" });
    expect(s.outputs.stdout).toBe("x'; rm -rf /|$HOME|");
  });

  it('a process killed by a signal reports minus the signal number', async () => {
    const s = await runTask('shell', { command: 'kill -9 $$' });
    expect(s.status).toBe(WorkflowStatus.TERMINAL);
    expect(s.context.returncode).toBe(-9);
  });
});
