// DockerTask and SSHTask run the real `docker` / `ssh` executables found on PATH. This machine has
// no Docker engine and no SSH server, so these tests put a stand-in executable first on PATH: a
// small shell script that records its argv and answers as told through STANDIN_* variables.
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { WorkflowStatus } from '@stabilize/core';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { buildDockerArgs, buildSshArgs, shellSplit } from '../src/index.js';
import { createEngine, runTask } from './helpers.js';

const bin = mkdtempSync(join(tmpdir(), 'stabilize-standin-'));
const log = join(bin, 'argv.log');
const savedEnv = { ...process.env };

const STANDIN = `#!/bin/sh
{ for a in "$@"; do printf '%s\\037' "$a"; done; printf '\\036'; } >> "$STANDIN_LOG"
case "$1" in
  version|-V) [ -n "$STANDIN_VERSION_FAIL" ] && exit 1; echo "stand-in $(basename "$0")" >&2; exit 0;;
  kill) exit 0;;
esac
[ -n "$STANDIN_SLEEP" ] && sleep "$STANDIN_SLEEP"
[ -n "$STANDIN_STDOUT" ] && printf '%s\\n' "$STANDIN_STDOUT"
[ -n "$STANDIN_STDERR" ] && printf '%s\\n' "$STANDIN_STDERR" >&2
exit "\${STANDIN_EXIT:-0}"
`;

/** The argv of every call of the stand-ins since the last reset. */
function calls(): string[][] {
  if (!existsSync(log)) return [];
  return readFileSync(log, 'utf8')
    .split('\x1e')
    .filter((record) => record !== '')
    .map((record) => record.split('\x1f').slice(0, -1));
}

beforeAll(() => {
  for (const name of ['docker', 'ssh']) {
    writeFileSync(join(bin, name), STANDIN);
    chmodSync(join(bin, name), 0o755);
  }
  process.env.PATH = `${bin}${delimiter}${process.env.PATH}`;
  process.env.STANDIN_LOG = log;
});
beforeEach(() => {
  rmSync(log, { force: true });
  for (const key of Object.keys(process.env)) if (key.startsWith('STANDIN_') && key !== 'STANDIN_LOG') delete process.env[key];
});
afterAll(() => {
  process.env = savedEnv;
  rmSync(bin, { recursive: true, force: true });
});

const runs = () => calls().filter((argv) => argv[0] !== 'version' && argv[0] !== '-V');

describe('DockerTask through a stand-in docker (§8 scenarios 34-39)', () => {
  it('34: docker version is probed, then run gets a generated name, --rm, image and command', async () => {
    const s = await runTask('docker', { image: 'alpine:latest', command: 'echo hello' });
    expect(s.status).toBe(WorkflowStatus.SUCCEEDED);
    const [probe, run] = calls();
    expect(probe).toEqual(['version']);
    expect(run).toEqual(['run', '--name', expect.stringMatching(/^stabilize-run-[0-9a-f]{12}$/), '--rm', 'alpine:latest', 'echo', 'hello']);
    expect(s.outputs).toMatchObject({ exit_code: 0, stdout: '', truncated: false, container_name: run![2] });
  });

  it('34b: every run option maps to its flag, in the upstream order', async () => {
    process.env.STANDIN_STDOUT = '0123456789abcdef0123';
    const s = await runTask('docker', {
      image: 'alpine:latest',
      name: 'web',
      remove: false,
      detach: true,
      stdin_open: true,
      tty: true,
      entrypoint: ['/bin/sh', '-c'],
      user: '1000:1000',
      hostname: 'box',
      cap_add: ['CHOWN'],
      cap_drop: ['ALL'],
      memory: '512m',
      memory_swap: '1g',
      cpus: 1.5,
      gpus: 'all',
      shm_size: '64m',
      tmpfs: ['/tmp'],
      read_only: true,
      security_opt: ['no-new-privileges'],
      ulimit: { nofile: '1024:2048' },
      labels: { team: 'ci' },
      dns: ['1.1.1.1'],
      extra_hosts: ['db:10.0.0.2'],
      init: true,
      platform: 'linux/amd64',
      pull: 'always',
      restart: 'no',
      volumes: ['/data:/data:ro'],
      ports: ['8080:80'],
      environment: { MODE: 'test', N: 2 },
      workdir: '/app',
      network: 'bridge',
      command: ['echo $HOME'],
    });
    expect(runs()[0]).toEqual([
      'run', '--name', 'web', '-d', '-i', '-t', '--entrypoint', '/bin/sh', '--user', '1000:1000', '--hostname', 'box',
      '--cap-add', 'CHOWN', '--cap-drop', 'ALL', '--memory', '512m', '--memory-swap', '1g', '--cpus', '1.5', '--gpus', 'all',
      '--shm-size', '64m', '--tmpfs', '/tmp', '--read-only', '--security-opt', 'no-new-privileges', '--ulimit', 'nofile=1024:2048',
      '--label', 'team=ci', '--dns', '1.1.1.1', '--add-host', 'db:10.0.0.2', '--init', '--platform', 'linux/amd64', '--pull', 'always',
      '--restart', 'no', '-v', '/data:/data:ro', '-p', '8080:80', '-e', 'MODE=test', '-e', 'N=2', '-w', '/app', '--network', 'bridge',
      'alpine:latest', '-c', 'echo $HOME',
    ]);
    expect(s.outputs.container_id).toBe('0123456789ab');
  });

  it('35: privileged mode and dangerous capabilities need their allow flags (case-insensitive, CAP_ prefix too)', async () => {
    const priv = await runTask('docker', { image: 'alpine', privileged: true });
    expect(priv.status).toBe(WorkflowStatus.TERMINAL);
    expect(String(priv.context.error)).toMatch(/^Privileged mode requires 'allow_privileged: true' in context\./);
    for (const cap of ['net_admin', 'CAP_SYS_ADMIN']) {
      const s = await runTask('docker', { image: 'alpine', cap_add: [cap] });
      expect(s.context.error).toBe(`Capability '${cap}' is dangerous and requires 'allow_dangerous_capabilities: true' in context.`);
    }
    expect(runs()).toEqual([]);
    const allowed = await runTask('docker', { image: 'alpine', privileged: true, allow_privileged: true, cap_add: ['net_admin'], allow_dangerous_capabilities: true });
    expect(allowed.status).toBe(WorkflowStatus.SUCCEEDED);
    expect(runs()[0]).toContain('--privileged');
  });

  it('36: volume host paths must be absolute, without traversal; host-control mounts need allow_privileged', async () => {
    expect((await runTask('docker', { image: 'alpine', volumes: ['data:/data'] })).context.error).toBe('Volume host path must be absolute: data:/data');
    expect((await runTask('docker', { image: 'alpine', volumes: ['./rel:/x'] })).context.error).toBe('Volume host path must be absolute: ./rel:/x');
    expect((await runTask('docker', { image: 'alpine', volumes: ['/a/../b:/b'] })).context.error).toBe('Volume mount path traversal blocked: /a/../b:/b');
    expect(String((await runTask('docker', { image: 'alpine', volumes: ['/var/run/docker.sock:/var/run/docker.sock'] })).context.error)).toMatch(/^Volume mount of \/var\/run\/docker\.sock requires 'allow_privileged: true'/);
    expect(String((await runTask('docker', { image: 'alpine', volumes: ['/:/host'] })).context.error)).toMatch(/^Volume mount of \/ requires/);
    expect(runs()).toEqual([]);
  });

  it('37: exec, build, pull, ps, images, logs, stop and rm', async () => {
    const cases: Array<[Record<string, unknown>, string[]]> = [
      [{ action: 'exec', name: 'web', command: 'ls -la /', interactive: true, tty: true, workdir: '/app', environment: { A: 1 } }, ['exec', '-i', '-t', '-w', '/app', '-e', 'A=1', 'web', 'ls', '-la', '/']],
      [{ action: 'build', tag: 'me/app:1', dockerfile: 'Dockerfile.ci', build_args: { V: '2' }, no_cache: true, context: './ctx' }, ['build', '-t', 'me/app:1', '-f', 'Dockerfile.ci', '--build-arg', 'V=2', '--no-cache', './ctx']],
      [{ action: 'build', image: 'me/app' }, ['build', '-t', 'me/app', '.']],
      [{ action: 'pull', image: 'alpine:3' }, ['pull', 'alpine:3']],
      [{ action: 'ps', all: true }, ['ps', '-a']],
      [{ action: 'images' }, ['images']],
      [{ action: 'logs', name: 'web', tail: 100 }, ['logs', '--tail', '100', 'web']],
      [{ action: 'stop', name: 'web' }, ['stop', 'web']],
      [{ action: 'rm', name: 'web', force: true }, ['rm', '-f', 'web']],
    ];
    for (const [context, argv] of cases) {
      rmSync(log, { force: true });
      const s = await runTask('docker', context);
      expect(s.status).toBe(WorkflowStatus.SUCCEEDED);
      expect(runs()).toEqual([argv]);
    }
    expect((await runTask('docker', { action: 'exec', command: 'ls' })).context.error).toBe("'name' is required for exec action");
    expect((await runTask('docker', { action: 'exec', name: 'web' })).context.error).toBe("'command' is required for exec action");
    expect(String((await runTask('docker', { action: 'run' })).context.error)).toContain('image');
    expect((await runTask('docker', { action: 'pull' })).context.error).toBe("'image' is required for pull action");
    expect((await runTask('docker', { image: '--privileged' })).context.error).toBe("Invalid image: must not start with '-'");
  });

  it('37b: build reports the image id; a failing command is TERMINAL or FAILED_CONTINUE', async () => {
    process.env.STANDIN_STDOUT = 'Step 1/1 : FROM alpine\nSuccessfully built 4f3e2d1c0b9a';
    const built = await runTask('docker', { action: 'build', tag: 'x' });
    expect(built.outputs.image_id).toBe('4f3e2d1c0b9a');
    process.env.STANDIN_STDOUT = '';
    process.env.STANDIN_EXIT = '125';
    process.env.STANDIN_STDERR = 'Unable to find image';
    const failed = await runTask('docker', { image: 'nope' });
    expect(failed.status).toBe(WorkflowStatus.TERMINAL);
    expect(failed.context).toMatchObject({ error: 'Docker command failed with exit code 125', exit_code: 125, stderr: 'Unable to find image' });
    const cont = await runTask('docker', { image: 'nope', continue_on_failure: true });
    expect(cont.status).toBe(WorkflowStatus.FAILED_CONTINUE);
    expect(cont.outputs.exit_code).toBe(125);
  });

  it('38: docker unavailable, unknown action, and docker kill after a timed-out run', async () => {
    process.env.STANDIN_VERSION_FAIL = '1';
    expect((await runTask('docker', { image: 'alpine' })).context.error).toBe('Docker is not available. Ensure Docker is installed and running.');
    delete process.env.STANDIN_VERSION_FAIL;
    expect((await runTask('docker', { action: 'explode' })).context.error).toBe(
      "Unsupported action 'explode'. Supported: ['build', 'exec', 'images', 'logs', 'ps', 'pull', 'rm', 'run', 'stop']",
    );
    rmSync(log, { force: true });
    process.env.STANDIN_SLEEP = '5';
    const started = Date.now();
    const s = await runTask('docker', { image: 'alpine', name: 'slowpoke', timeout: 0.5 });
    expect(Date.now() - started).toBeLessThan(4000);
    expect(s.status).toBe(WorkflowStatus.TERMINAL);
    expect(s.context.error).toBe('Docker command timed out after 0.5s');
    expect(runs()).toContainEqual(['kill', 'slowpoke']);
  });

  it('38b: the docker version probe is cached per task instance', async () => {
    const engine = createEngine({ tasks: { docker: { availabilityTtlMs: 60_000 } } });
    await runTask('docker', { action: 'ps' }, engine);
    await runTask('docker', { action: 'images' }, engine);
    expect(calls().map((argv) => argv[0])).toEqual(['version', 'ps', 'images']);
  });

  it('39: a string command is split like shlex.split (POSIX)', async () => {
    await runTask('docker', { image: 'alpine', command: "sh -c 'echo $X' \"a b\" c\\ d" });
    expect(runs()[0]!.slice(-6)).toEqual(['alpine', 'sh', '-c', 'echo $X', 'a b', 'c d']);
    expect(buildDockerArgs('run', { image: 'alpine', name: 'n', command: "sh -c 'echo $X'" })).toEqual(['run', '--name', 'n', '--rm', 'alpine', 'sh', '-c', 'echo $X']);
    expect(shellSplit("sh -c 'echo $X'")).toEqual(['sh', '-c', 'echo $X']);
  });
});

describe('SSHTask through a stand-in ssh (§8 scenarios 40-42)', () => {
  it('40: the remote command is the last argument, verbatim', async () => {
    process.env.STANDIN_STDOUT = 'active (running)';
    const s = await runTask('ssh', { host: 'web-1.example.com', user: 'deploy', command: 'systemctl status nginx | grep Active > /tmp/out 2>&1' });
    expect(s.status).toBe(WorkflowStatus.SUCCEEDED);
    expect(calls()[0]).toEqual(['-V']);
    expect(runs()[0]).toEqual([
      '-o', 'ConnectTimeout=10', '-o', 'StrictHostKeyChecking=yes', '-T', '-o', 'BatchMode=yes', 'deploy@web-1.example.com',
      'systemctl status nginx | grep Active > /tmp/out 2>&1',
    ]);
    expect(s.outputs).toMatchObject({ stdout: 'active (running)', exit_code: 0, host: 'web-1.example.com', user: 'deploy', truncated: false });
  });

  it('41: host, user, port and key_file are validated', async () => {
    const cases: Array<[Record<string, unknown>, string]> = [
      [{ command: 'ls' }, "No 'host' specified in context"],
      [{ host: 'bad host!', command: 'ls' }, 'Invalid host: contains disallowed characters'],
      [{ host: '-oProxyCommand=touch', command: 'ls' }, 'Invalid host: contains disallowed characters'],
      [{ host: 'h', user: 'a;b', command: 'ls' }, 'Invalid user: contains disallowed characters'],
      [{ host: 'h', user: 'u' }, "No 'command' specified in context"],
      [{ host: 'h', user: 'u', command: 'ls', port: '22' }, 'Invalid port: 22'],
      [{ host: 'h', user: 'u', command: 'ls', port: 70000 }, 'Invalid port: 70000'],
      [{ host: 'h', user: 'u', command: 'ls', key_file: '/home/u/../../etc/shadow' }, 'Path traversal blocked in key_file'],
    ];
    for (const [context, message] of cases) {
      const s = await runTask('ssh', context);
      expect(s.status).toBe(WorkflowStatus.TERMINAL);
      expect(s.context.error).toBe(message);
    }
    expect(runs()).toEqual([]);
    expect(() => buildSshArgs({ host: 'h', command: 'ls' }, {})).toThrow("No 'user' specified in context and USER environment variable not set");
  });

  it('42: exit 255 and other exits, strict_host_key off, port and key file', async () => {
    process.env.STANDIN_EXIT = '255';
    process.env.STANDIN_STDERR = 'Connection refused';
    const refused = await runTask('ssh', { host: 'h', user: 'u', command: 'ls' });
    expect(refused.context.error).toBe('SSH connection failed to h: Connection refused\n');
    process.env.STANDIN_EXIT = '1';
    const failed = await runTask('ssh', { host: 'h', user: 'u', command: 'false', continue_on_failure: true });
    expect(failed.status).toBe(WorkflowStatus.FAILED_CONTINUE);
    expect(failed.context.error).toBe('Remote command failed with exit code 1');
    expect(failed.outputs).toMatchObject({ exit_code: 1, host: 'h', user: 'u' });
    delete process.env.STANDIN_EXIT;
    delete process.env.STANDIN_STDERR;
    rmSync(log, { force: true });
    await runTask('ssh', { host: 'h', user: 'u', command: 'ls', port: 2222, key_file: '/keys/id', strict_host_key: false, connect_timeout: 3 });
    expect(runs()[0]).toEqual(['-p', '2222', '-i', '/keys/id', '-o', 'ConnectTimeout=3', '-o', 'StrictHostKeyChecking=no', '-o', 'UserKnownHostsFile=/dev/null', '-T', '-o', 'BatchMode=yes', 'u@h', 'ls']);
    expect(buildSshArgs({ host: 'h', user: 'u', command: 'ls', port: 22 }).args).not.toContain('-p');
  });

  it('a timed-out ssh command reports host and user', async () => {
    process.env.STANDIN_SLEEP = '5';
    const s = await runTask('ssh', { host: 'h', user: 'u', command: 'sleep 100', timeout: 0.5 });
    expect(s.context).toMatchObject({ error: 'SSH command timed out after 0.5s', host: 'h', user: 'u' });
  });

  it('a missing ssh client is reported', async () => {
    process.env.STANDIN_VERSION_FAIL = '1';
    expect((await runTask('ssh', { host: 'h', user: 'u', command: 'ls' })).context.error).toBe('SSH client not available. Ensure ssh is installed.');
  });
});
