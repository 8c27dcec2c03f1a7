import { type Context, type Logger, type StageExecution, type Task, type TaskContext, TaskResult } from '@stabilize/core';
import { AvailabilityProbe } from './internal/availability.js';
import { failure, hasTraversal, MiB, numberOr, truthy } from './internal/context.js';
import { runProcess } from './internal/process.js';

export const SSH_DEFAULT_TIMEOUT_S = 60;
export const SSH_DEFAULT_CONNECT_TIMEOUT_S = 10;
/** Allowed characters of `host` and `user` (a leading '-' is refused as well: it would be an ssh option). */
const NAME = /^[a-zA-Z0-9._-]+$/;

export class SshConfigError extends Error {}

/**
 * The ssh arguments (without the `ssh` executable) for a context. The remote command is the last
 * argument, verbatim: the remote shell parses it, like ShellTask's `command` it is trusted input.
 * Throws SshConfigError with the upstream message.
 */
export function buildSshArgs(c: Context, env: NodeJS.ProcessEnv = process.env): { args: string[]; host: string; user: string } {
  const host = typeof c.host === 'string' ? c.host : '';
  if (host === '') throw new SshConfigError("No 'host' specified in context");
  if (!NAME.test(host) || host.startsWith('-')) throw new SshConfigError('Invalid host: contains disallowed characters');
  const user = typeof c.user === 'string' && c.user !== '' ? c.user : (env.USER ?? '');
  if (user === '') throw new SshConfigError("No 'user' specified in context and USER environment variable not set");
  if (!NAME.test(user) || user.startsWith('-')) throw new SshConfigError('Invalid user: contains disallowed characters');
  const command = typeof c.command === 'string' ? c.command : '';
  if (command === '') throw new SshConfigError("No 'command' specified in context");
  const port = c.port === undefined || c.port === null ? 22 : c.port;
  if (typeof port !== 'number' || !Number.isInteger(port) || port < 1 || port > 65535) throw new SshConfigError(`Invalid port: ${String(port)}`);
  const keyFile = typeof c.key_file === 'string' && c.key_file !== '' ? c.key_file : undefined;
  if (keyFile !== undefined && hasTraversal(keyFile)) throw new SshConfigError('Path traversal blocked in key_file');
  const connectTimeout = numberOr(c.connect_timeout, SSH_DEFAULT_CONNECT_TIMEOUT_S);
  const strict = c.strict_host_key === undefined || c.strict_host_key === null ? true : truthy(c.strict_host_key);

  const args: string[] = [];
  if (port !== 22) args.push('-p', String(port));
  if (keyFile !== undefined) args.push('-i', keyFile);
  args.push('-o', `ConnectTimeout=${connectTimeout}`);
  if (strict) args.push('-o', 'StrictHostKeyChecking=yes');
  else args.push('-o', 'StrictHostKeyChecking=no', '-o', 'UserKnownHostsFile=/dev/null');
  args.push('-T', '-o', 'BatchMode=yes', `${user}@${host}`, command);
  return { args, host, user };
}

export interface SSHTaskOptions {
  /** The ssh executable (default `ssh`, looked up on PATH). */
  executable?: string;
  /** How long an `ssh -V` probe result is trusted. Default 30 s. */
  availabilityTtlMs?: number;
  killGraceMs?: number;
  logger?: Logger;
}

/** Runs a command on a remote host with the OpenSSH client (no shell locally). Registered as `ssh`. */
export class SSHTask implements Task {
  readonly aliases = ['SSHTask'];
  private readonly probe: AvailabilityProbe;
  constructor(private readonly options: SSHTaskOptions = {}) {
    this.probe = new AvailabilityProbe(() => this.executable, ['-V'], 5000, options.availabilityTtlMs ?? 30_000);
  }

  private get executable(): string {
    return this.options.executable ?? 'ssh';
  }

  async execute(stage: StageExecution, ctx: TaskContext): Promise<TaskResult> {
    const c = stage.context;
    let built: ReturnType<typeof buildSshArgs>;
    try {
      built = buildSshArgs(c);
    } catch (error) {
      if (error instanceof SshConfigError) return TaskResult.terminal(error.message);
      throw error;
    }
    const { args, host, user } = built;
    const timeout = numberOr(c.timeout, SSH_DEFAULT_TIMEOUT_S);
    const ladder = { continueOnFailure: truthy(c.continue_on_failure) };
    if (!(await this.probe.check(ctx.signal))) return TaskResult.terminal('SSH client not available. Ensure ssh is installed.');
    this.options.logger?.debug('SSHTask executing', { host, user, port: c.port ?? 22 });

    const run = await runProcess({
      file: this.executable,
      args,
      timeoutMs: timeout * 1000,
      signal: ctx.signal,
      maxOutputBytes: numberOr(c.max_output_size, 10 * MiB),
      killGraceMs: this.options.killGraceMs,
    });
    if (run.spawnError) return TaskResult.terminal('SSH client not available. Ensure ssh is installed.');
    if (run.aborted && !run.timedOut) return TaskResult.canceled();
    if (run.timedOut) return failure(`SSH command timed out after ${timeout}s`, { host, user }, ladder);
    const rawStderr = run.stderr.toString('utf8');
    const exitCode = run.exitCode ?? -1;
    const outputs: Context = { stdout: run.stdout.toString('utf8').trim(), stderr: rawStderr.trim(), exit_code: exitCode, host, user, truncated: run.stdoutTruncated || run.stderrTruncated };
    if (exitCode === 0) return TaskResult.success({ outputs });
    const message = exitCode === 255 ? `SSH connection failed to ${host}: ${rawStderr}` : `Remote command failed with exit code ${exitCode}`;
    return failure(message, outputs, ladder);
  }
}
