import { randomBytes } from 'node:crypto';
import { posix } from 'node:path';
import { type Context, type Logger, type StageExecution, type Task, type TaskContext, TaskResult } from '@stabilize/core';
import { AvailabilityProbe } from './internal/availability.js';
import { failure, hasTraversal, isPlainObject, MiB, numberOr, pyList, renderValue, stringList, truthy } from './internal/context.js';
import { runProcess } from './internal/process.js';
import { ShellSplitError, shellSplit } from './internal/quote.js';

export const DOCKER_ACTIONS: ReadonlySet<string> = new Set(['run', 'exec', 'build', 'pull', 'ps', 'images', 'logs', 'stop', 'rm']);
export const DOCKER_DEFAULT_TIMEOUT_S = 14400;
/** Capabilities that need `allow_dangerous_capabilities: true` (compared without case and `CAP_` prefix). */
export const DANGEROUS_CAPABILITIES: ReadonlySet<string> = new Set(['SYS_ADMIN', 'SYS_PTRACE', 'SYS_RAWIO', 'SYS_MODULE', 'DAC_READ_SEARCH', 'NET_ADMIN', 'NET_RAW', 'SYS_BOOT', 'ALL']);
/** Host paths whose mount hands out control of the host (the Docker socket or a directory holding it). */
const HOST_CONTROL_PATHS = new Set(['/', '/var', '/var/run', '/run', '/var/run/docker.sock', '/run/docker.sock']);
const UNCONFINED_SECURITY_OPT = /^(seccomp|apparmor|systempaths)[=:]unconfined$|^label[=:]disable$/i;

/** A context value the DockerTask refuses; the message is the task's error. */
export class DockerConfigError extends Error {}

function positional(what: string, value: unknown): string {
  const text = renderValue(value);
  if (text.startsWith('-')) throw new DockerConfigError(`Invalid ${what}: must not start with '-'`);
  return text;
}

function commandArgs(command: unknown): string[] {
  if (Array.isArray(command)) return command.map(renderValue);
  if (typeof command !== 'string') return [];
  try {
    return shellSplit(command);
  } catch (error) {
    if (error instanceof ShellSplitError) throw new DockerConfigError(`Invalid command: ${error.message}`);
    throw error;
  }
}

function pairs(value: unknown): string[] {
  if (!isPlainObject(value)) return [];
  return Object.entries(value)
    .filter(([, v]) => v !== null && v !== undefined)
    .map(([k, v]) => `${k}=${renderValue(v)}`);
}

function checkVolume(volume: string, allowPrivileged: boolean): void {
  const host = volume.split(':')[0] ?? '';
  if (!host.startsWith('/')) throw new DockerConfigError(`Volume host path must be absolute: ${volume}`);
  if (hasTraversal(host)) throw new DockerConfigError(`Volume mount path traversal blocked: ${volume}`);
  const normalized = posix.normalize(host).replace(/(.)\/+$/, '$1');
  if (HOST_CONTROL_PATHS.has(normalized) && !allowPrivileged) {
    throw new DockerConfigError(`Volume mount of ${normalized} requires 'allow_privileged: true' in context (it gives control of the host).`);
  }
}

function runArgs(c: Context, name: string): string[] {
  if (!truthy(c.image)) throw new DockerConfigError("'image' is required for run action");
  const allowPrivileged = truthy(c.allow_privileged);
  const args = ['run', '--name', name];
  if (c.remove === undefined || c.remove === null || truthy(c.remove)) args.push('--rm');
  if (truthy(c.detach)) args.push('-d');
  if (truthy(c.stdin_open)) args.push('-i');
  if (truthy(c.tty)) args.push('-t');
  let entrypointRest: string[] = [];
  if (truthy(c.entrypoint)) {
    const entry = Array.isArray(c.entrypoint) ? c.entrypoint.map(renderValue) : [renderValue(c.entrypoint)];
    args.push('--entrypoint', entry[0]!);
    entrypointRest = entry.slice(1);
  }
  if (truthy(c.user)) args.push('--user', renderValue(c.user));
  if (truthy(c.hostname)) args.push('--hostname', renderValue(c.hostname));
  if (truthy(c.privileged)) {
    if (!allowPrivileged) throw new DockerConfigError("Privileged mode requires 'allow_privileged: true' in context. A privileged container has full access to the host.");
    args.push('--privileged');
  }
  for (const cap of stringList(c.cap_add)) {
    const bare = cap.toUpperCase().replace(/^CAP_/, '');
    if (DANGEROUS_CAPABILITIES.has(bare) && !truthy(c.allow_dangerous_capabilities)) {
      throw new DockerConfigError(`Capability '${cap}' is dangerous and requires 'allow_dangerous_capabilities: true' in context.`);
    }
    args.push('--cap-add', cap);
  }
  for (const cap of stringList(c.cap_drop)) args.push('--cap-drop', cap);
  if (truthy(c.memory)) args.push('--memory', renderValue(c.memory));
  if (truthy(c.memory_swap)) args.push('--memory-swap', renderValue(c.memory_swap));
  if (truthy(c.cpus)) args.push('--cpus', renderValue(c.cpus));
  if (truthy(c.gpus)) args.push('--gpus', renderValue(c.gpus));
  if (truthy(c.shm_size)) args.push('--shm-size', renderValue(c.shm_size));
  for (const t of stringList(c.tmpfs)) args.push('--tmpfs', t);
  if (truthy(c.read_only)) args.push('--read-only');
  for (const opt of stringList(c.security_opt)) {
    if (UNCONFINED_SECURITY_OPT.test(opt) && !allowPrivileged) throw new DockerConfigError(`Security option '${opt}' requires 'allow_privileged: true' in context.`);
    args.push('--security-opt', opt);
  }
  for (const u of pairs(c.ulimit)) args.push('--ulimit', u);
  for (const l of pairs(c.labels)) args.push('--label', l);
  for (const d of stringList(c.dns)) args.push('--dns', d);
  for (const h of stringList(c.extra_hosts)) args.push('--add-host', h);
  if (truthy(c.init)) args.push('--init');
  if (truthy(c.platform)) args.push('--platform', renderValue(c.platform));
  if (truthy(c.pull)) args.push('--pull', renderValue(c.pull));
  if (truthy(c.restart)) args.push('--restart', renderValue(c.restart));
  for (const v of stringList(c.volumes)) {
    checkVolume(v, allowPrivileged);
    args.push('-v', v);
  }
  for (const p of stringList(c.ports)) args.push('-p', p);
  for (const e of pairs(c.environment)) args.push('-e', e);
  if (truthy(c.workdir)) args.push('-w', renderValue(c.workdir));
  if (truthy(c.network)) args.push('--network', renderValue(c.network));
  args.push(positional('image', c.image));
  args.push(...entrypointRest, ...(truthy(c.command) ? commandArgs(c.command) : []));
  return args;
}

/**
 * The docker CLI arguments (without the `docker` executable) for an action and context. `name` is
 * the container name for `run` (generated when the context has none). Throws DockerConfigError.
 */
export function buildDockerArgs(action: string, c: Context, name = truthy(c.name) ? renderValue(c.name) : `stabilize-run-${randomBytes(6).toString('hex')}`): string[] {
  const requireName = () => {
    if (!truthy(c.name)) throw new DockerConfigError(`'name' is required for ${action} action`);
    return positional('name', c.name);
  };
  switch (action) {
    case 'run':
      return runArgs(c, name);
    case 'exec': {
      const container = requireName();
      if (!truthy(c.command)) throw new DockerConfigError("'command' is required for exec action");
      const args = ['exec'];
      if (truthy(c.interactive)) args.push('-i');
      if (truthy(c.tty)) args.push('-t');
      if (truthy(c.workdir)) args.push('-w', renderValue(c.workdir));
      for (const e of pairs(c.environment)) args.push('-e', e);
      return [...args, container, ...commandArgs(c.command)];
    }
    case 'build': {
      const args = ['build'];
      const tag = truthy(c.tag) ? c.tag : c.image;
      if (truthy(tag)) args.push('-t', renderValue(tag));
      if (truthy(c.dockerfile)) args.push('-f', renderValue(c.dockerfile));
      for (const a of pairs(c.build_args)) args.push('--build-arg', a);
      if (truthy(c.no_cache)) args.push('--no-cache');
      args.push(positional('build context', truthy(c.context) ? c.context : '.'));
      return args;
    }
    case 'pull':
      if (!truthy(c.image)) throw new DockerConfigError("'image' is required for pull action");
      return ['pull', positional('image', c.image)];
    case 'ps':
      return truthy(c.all) ? ['ps', '-a'] : ['ps'];
    case 'images':
      return ['images'];
    case 'logs': {
      const container = requireName();
      const args = ['logs'];
      if (truthy(c.follow)) args.push('-f');
      if (truthy(c.tail)) args.push('--tail', renderValue(c.tail));
      return [...args, container];
    }
    case 'stop':
      return ['stop', requireName()];
    case 'rm': {
      const container = requireName();
      return truthy(c.force) ? ['rm', '-f', container] : ['rm', container];
    }
    default:
      throw new DockerConfigError(`Unsupported action '${action}'. Supported: ${pyList([...DOCKER_ACTIONS].sort())}`);
  }
}

/** The image id a build printed: classic builder (`Successfully built <id>`) or BuildKit (`writing image sha256:<id>`). */
export function parseImageId(output: string): string | undefined {
  for (const line of output.split('\n')) {
    if (line.includes('Successfully built')) return line.trim().split(/\s+/).pop();
  }
  const buildkit = /writing image (sha256:[0-9a-f]+)/.exec(output);
  return buildkit?.[1];
}

export interface DockerTaskOptions {
  /** The docker executable (default `docker`, looked up on PATH). */
  executable?: string;
  /** How long a successful or failed `docker version` probe is trusted. Default 30 s. */
  availabilityTtlMs?: number;
  killGraceMs?: number;
  logger?: Logger;
}

/**
 * Runs the docker CLI without a shell: run, exec, build, pull, ps, images, logs, stop, rm.
 * Registered as `docker`. See the package README.
 */
export class DockerTask implements Task {
  readonly aliases = ['DockerTask'];
  private readonly probe: AvailabilityProbe;
  constructor(private readonly options: DockerTaskOptions = {}) {
    this.probe = new AvailabilityProbe(() => this.executable, ['version'], 10_000, options.availabilityTtlMs ?? 30_000);
  }

  private get executable(): string {
    return this.options.executable ?? 'docker';
  }

  async execute(stage: StageExecution, ctx: TaskContext): Promise<TaskResult> {
    const c = stage.context;
    const action = typeof c.action === 'string' ? c.action : 'run';
    const timeout = numberOr(c.timeout, DOCKER_DEFAULT_TIMEOUT_S);
    const ladder = { continueOnFailure: truthy(c.continue_on_failure) };
    const name = truthy(c.name) ? renderValue(c.name) : `stabilize-run-${randomBytes(6).toString('hex')}`;
    let args: string[];
    try {
      args = buildDockerArgs(action, c, name);
    } catch (error) {
      if (error instanceof DockerConfigError) return TaskResult.terminal(error.message);
      throw error;
    }
    if (!(await this.probe.check(ctx.signal))) return TaskResult.terminal('Docker is not available. Ensure Docker is installed and running.');
    this.options.logger?.debug('DockerTask executing', { argv: [this.executable, ...args] });

    const run = await runProcess({
      file: this.executable,
      args,
      timeoutMs: timeout * 1000,
      signal: ctx.signal,
      maxOutputBytes: numberOr(c.max_output_size, 10 * MiB),
      killGraceMs: this.options.killGraceMs,
    });
    if (run.spawnError) return TaskResult.terminal('Docker is not available. Ensure Docker is installed and running.');
    if ((run.timedOut || run.aborted) && action === 'run') await this.kill(name);
    if (run.aborted && !run.timedOut) return TaskResult.canceled();
    if (run.timedOut) return failure(`Docker command timed out after ${timeout}s`, {}, ladder);

    const stdout = run.stdout.toString('utf8').trim();
    const outputs: Context = { stdout, stderr: run.stderr.toString('utf8').trim(), exit_code: run.exitCode ?? -1, truncated: run.stdoutTruncated || run.stderrTruncated };
    if (action === 'run') outputs.container_name = name;
    if (action === 'run' && truthy(c.detach)) outputs.container_id = stdout.slice(0, 12);
    if (action === 'build' && run.exitCode === 0) {
      const imageId = parseImageId(`${run.stdout.toString('utf8')}\n${run.stderr.toString('utf8')}`);
      if (imageId !== undefined) outputs.image_id = imageId;
    }
    if (run.exitCode === 0) return TaskResult.success({ outputs });
    return failure(`Docker command failed with exit code ${run.exitCode ?? -1}`, outputs, ladder);
  }

  /** `docker kill <name>` after a run timed out or was canceled; failures are only logged. */
  private async kill(name: string): Promise<void> {
    const run = await runProcess({ file: this.executable, args: ['kill', name], timeoutMs: 30_000, maxOutputBytes: 64 * 1024, killGraceMs: 1000 });
    if (run.spawnError || run.exitCode !== 0) this.options.logger?.warn('docker kill failed', { name, exitCode: run.exitCode, stderr: run.stderr.toString('utf8') });
  }
}
