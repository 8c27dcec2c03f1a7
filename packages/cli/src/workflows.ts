// The everyday workflow commands: list, show, start, cancel, pause, resume, restart, signal, dlq.
// Each takes an open backend and an Output and returns an exit code; errors propagate to
// `withBackend`, which prints them and maps them to exit codes.
import { readFileSync } from 'node:fs';
import { type DeadLetter, Orchestrator, type StageExecution, type TaskExecution, type Workflow, WorkflowStatus, workflowFromDefinition } from '@stabilize/core';
import { parse as parseYaml } from 'yaml';
import { type CliBackend, CommandError } from './backend.js';
import { ExitCode } from './exit-codes.js';
import type { Output } from './output.js';

const STATUSES = Object.values(WorkflowStatus) as string[];

export interface ListOptions {
  status?: string[];
  application?: string;
  limit?: number;
  json?: boolean;
  /** `'desc'` (default): newest first; `'asc'`: oldest first. */
  order?: 'asc' | 'desc';
}

/** Parses `--status running,failed` (case-insensitive) into statuses. Throws CommandError. */
export function parseStatuses(values: readonly string[] | undefined): WorkflowStatus[] | undefined {
  if (!values || values.length === 0) return undefined;
  const out: WorkflowStatus[] = [];
  for (const raw of values.flatMap((v) => v.split(','))) {
    const s = raw.trim().toUpperCase();
    if (s === '') continue;
    if (!STATUSES.includes(s)) throw new CommandError(`Unknown status '${raw.trim()}'`, ExitCode.USAGE, `Expected one of ${STATUSES.join(', ')}`);
    out.push(s as WorkflowStatus);
  }
  return out.length > 0 ? out : undefined;
}

export function formatTime(ms: number | null): string {
  return ms === null ? '-' : new Date(ms).toISOString().replace('T', ' ').replace(/\.\d+Z$/, 'Z');
}

export function formatDuration(start: number | null, end: number | null, now = Date.now()): string {
  if (start === null) return '-';
  const ms = Math.max(0, (end ?? now) - start);
  if (ms < 1000) return `${ms}ms`;
  const s = Math.floor(ms / 1000);
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m${String(s % 60).padStart(2, '0')}s`;
  const h = Math.floor(m / 60);
  return `${h}h${String(m % 60).padStart(2, '0')}m`;
}

function table(rows: string[][]): string[] {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join('  ').trimEnd());
}

function workflowRow(w: Workflow) {
  return { id: w.id, application: w.application, name: w.name, status: w.status, startTime: w.startTime, endTime: w.endTime };
}

/** `stabilize list`: the newest workflows first (or the oldest with `order: 'asc'`), at most `limit`. */
export async function listCommand(backend: CliBackend, output: Output, options: ListOptions = {}): Promise<ExitCode> {
  const limit = options.limit ?? 50;
  if (!Number.isInteger(limit) || limit <= 0) throw new CommandError(`--limit must be a positive integer, got ${limit}`, ExitCode.USAGE);
  const statuses = parseStatuses(options.status);
  const workflows = await backend.store.listWorkflows({ ...(statuses ? { statuses } : {}), ...(options.application ? { application: options.application } : {}), order: options.order ?? 'desc', limit });
  if (options.json) {
    output.out(JSON.stringify(workflows.map(workflowRow), null, 2));
    return ExitCode.OK;
  }
  if (workflows.length === 0) {
    output.out('No workflows found.');
    return ExitCode.OK;
  }
  output.out(
    table([
      ['ID', 'APPLICATION', 'NAME', 'STATUS', 'STARTED', 'ENDED'],
      ...workflows.map((w) => [w.id, w.application, w.name, w.status, formatTime(w.startTime), formatTime(w.endTime)]),
    ]).join('\n'),
  );
  return ExitCode.OK;
}

function taskJson(t: TaskExecution) {
  return { id: t.id, name: t.name, implementingClass: t.implementingClass, status: t.status, startTime: t.startTime, endTime: t.endTime, ...(t.taskExceptionDetails && Object.keys(t.taskExceptionDetails).length > 0 ? { error: t.taskExceptionDetails } : {}) };
}

function stageError(stage: StageExecution): string | null {
  const ctx = stage.context as Record<string, unknown>;
  const ex = ctx.exception ?? ctx.error ?? ctx.errors;
  if (ex === undefined || ex === null) {
    for (const t of stage.tasks) {
      const d = t.taskExceptionDetails as Record<string, unknown> | undefined;
      if (d && Object.keys(d).length > 0) return typeof d.message === 'string' ? d.message : JSON.stringify(d);
    }
    return null;
  }
  if (typeof ex === 'string') return ex;
  const details = (ex as { details?: { error?: unknown; errors?: unknown } }).details;
  if (details && typeof details.error === 'string') return details.error;
  return JSON.stringify(ex);
}

/** The workflow as plain JSON for `show --json` and the monitor. */
export function workflowJson(w: Workflow) {
  return {
    ...workflowRow(w),
    isCanceled: w.isCanceled,
    canceledBy: w.canceledBy,
    cancellationReason: w.cancellationReason,
    paused: w.paused,
    context: w.context,
    stages: w.stages.map((s) => ({
      id: s.id,
      refId: s.refId,
      name: s.name,
      type: s.type,
      status: s.status,
      requisiteStageRefIds: s.requisiteStageRefIds,
      parentStageId: s.parentStageId,
      startTime: s.startTime,
      endTime: s.endTime,
      outputs: s.outputs,
      error: stageError(s),
      tasks: s.tasks.map(taskJson),
    })),
  };
}

/** `stabilize show <id>`: the workflow with its stages, tasks, outputs and errors. */
export async function showCommand(backend: CliBackend, output: Output, id: string, options: { json?: boolean } = {}): Promise<ExitCode> {
  const w = await backend.store.retrieve(id);
  if (options.json) {
    output.out(JSON.stringify(workflowJson(w), null, 2));
    return ExitCode.OK;
  }
  output.out(`Workflow ${w.id}`);
  output.out(`  Application: ${w.application}`);
  output.out(`  Name:        ${w.name}`);
  output.out(`  Status:      ${w.status}`);
  output.out(`  Started:     ${formatTime(w.startTime)}`);
  output.out(`  Ended:       ${formatTime(w.endTime)}`);
  output.out(`  Duration:    ${formatDuration(w.startTime, w.endTime)}`);
  if (w.isCanceled) output.out(`  Canceled by: ${w.canceledBy ?? '-'}${w.cancellationReason ? ` (${w.cancellationReason})` : ''}`);
  if (w.paused && w.status === WorkflowStatus.PAUSED) output.out(`  Paused by:   ${w.paused.pausedBy} at ${formatTime(w.paused.pauseTime)}`);
  const done = w.stages.filter((s) => s.endTime !== null || s.status === WorkflowStatus.SUCCEEDED || s.status === WorkflowStatus.SKIPPED).length;
  output.out(`  Stages:      ${done}/${w.stages.length} finished`);
  for (const s of w.stages) {
    const deps = s.requisiteStageRefIds.length > 0 ? ` after ${s.requisiteStageRefIds.join(',')}` : '';
    output.out('');
    output.out(`  Stage ${s.refId} "${s.name}" [${s.status}] ${formatDuration(s.startTime, s.endTime)}${deps}  (id ${s.id})`);
    for (const t of s.tasks) output.out(`    - task ${t.name} (${t.implementingClass}) [${t.status}] ${formatDuration(t.startTime, t.endTime)}`);
    if (Object.keys(s.outputs).length > 0) output.out(`    outputs: ${JSON.stringify(s.outputs)}`);
    const error = stageError(s);
    if (error) output.out(`    error: ${error}`);
  }
  return ExitCode.OK;
}

/** Reads a JSON or YAML definition file (by extension; otherwise JSON, then YAML). Throws CommandError. */
export function readDefinition(file: string): unknown {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw new CommandError(`Cannot read ${file}: ${(error as Error).message}`, ExitCode.INVALID_INPUT);
  }
  const yamlFile = /\.ya?ml$/i.test(file);
  try {
    return yamlFile ? parseYaml(text) : JSON.parse(text);
  } catch (error) {
    throw new CommandError(`Cannot parse ${file} as ${yamlFile ? 'YAML' : 'JSON'}: ${(error as Error).message.split('\n')[0]}`, ExitCode.INVALID_INPUT);
  }
}

/** `stabilize start <file>`: stores the workflow and queues StartWorkflow. Does not run tasks. */
export async function startCommand(backend: CliBackend, output: Output, file: string, options: { json?: boolean } = {}): Promise<ExitCode> {
  const workflow = workflowFromDefinition(readDefinition(file));
  await new Orchestrator(backend.queue, { store: backend.store }).start(workflow);
  if (options.json) {
    output.out(JSON.stringify({ id: workflow.id, application: workflow.application, name: workflow.name, status: 'QUEUED' }, null, 2));
    return ExitCode.OK;
  }
  output.out(`Queued workflow ${workflow.id} (${workflow.application} / ${workflow.name})`);
  output.out('Note: this command only stores the workflow and queues its start; a worker (QueueProcessor with your task registry) runs the tasks.');
  return ExitCode.OK;
}

async function existing(backend: CliBackend, id: string): Promise<Workflow> {
  return backend.store.retrieveWorkflowOnly(id);
}

/** Resolves a stage ref id (e.g. `deploy`) or stage id to the stage id. Throws CommandError. */
export async function resolveStage(backend: CliBackend, workflowId: string, refOrId: string): Promise<string> {
  const stages = await backend.store.retrieveStageSummaries(workflowId);
  const byId = stages.find((s) => s.id === refOrId);
  if (byId) return byId.id;
  const byRef = stages.filter((s) => s.refId === refOrId);
  if (byRef.length === 1) return byRef[0]!.id;
  if (byRef.length > 1) throw new CommandError(`Stage ref '${refOrId}' is ambiguous in workflow ${workflowId}`, ExitCode.INVALID_INPUT, `Use one of the stage ids: ${byRef.map((s) => s.id).join(', ')}`);
  throw new CommandError(`No stage '${refOrId}' in workflow ${workflowId}`, ExitCode.NOT_FOUND, `Stages: ${stages.map((s) => s.refId).join(', ') || '(none)'}`);
}

function done(output: Output, json: boolean | undefined, result: Record<string, unknown>, text: string): ExitCode {
  output.out(json ? JSON.stringify(result, null, 2) : text);
  return ExitCode.OK;
}

const QUEUED_NOTE = 'a worker applies it';

export async function cancelCommand(backend: CliBackend, output: Output, id: string, options: { reason?: string; user?: string; json?: boolean } = {}): Promise<ExitCode> {
  const w = await existing(backend, id);
  const user = options.user ?? process.env.USER ?? 'cli';
  await new Orchestrator(backend.queue, { store: backend.store }).cancel(w.id, user, options.reason ?? '');
  return done(output, options.json, { id: w.id, action: 'cancel', queued: true, user, reason: options.reason ?? '' }, `Cancel of workflow ${w.id} queued (${QUEUED_NOTE}).`);
}

export async function pauseCommand(backend: CliBackend, output: Output, id: string, options: { user?: string; json?: boolean } = {}): Promise<ExitCode> {
  const w = await existing(backend, id);
  if (w.status !== WorkflowStatus.RUNNING) throw new CommandError(`Workflow ${w.id} is ${w.status}; only a RUNNING workflow can be paused`, ExitCode.INVALID_INPUT);
  await new Orchestrator(backend.queue, { store: backend.store }).pause(w.id, options.user ?? process.env.USER ?? 'cli');
  return done(output, options.json, { id: w.id, action: 'pause', status: WorkflowStatus.PAUSED }, `Workflow ${w.id} paused.`);
}

export async function resumeCommand(backend: CliBackend, output: Output, id: string, options: { json?: boolean } = {}): Promise<ExitCode> {
  const w = await existing(backend, id);
  if (w.status !== WorkflowStatus.PAUSED) throw new CommandError(`Workflow ${w.id} is ${w.status}; only a PAUSED workflow can be resumed`, ExitCode.INVALID_INPUT);
  await new Orchestrator(backend.queue, { store: backend.store }).resume(w.id);
  return done(output, options.json, { id: w.id, action: 'resume', status: WorkflowStatus.RUNNING }, `Workflow ${w.id} resumed.`);
}

export async function restartCommand(backend: CliBackend, output: Output, id: string, stage: string, options: { json?: boolean } = {}): Promise<ExitCode> {
  const w = await existing(backend, id);
  const stageId = await resolveStage(backend, w.id, stage);
  await new Orchestrator(backend.queue, { store: backend.store }).restart(w.id, stageId);
  return done(output, options.json, { id: w.id, action: 'restart', stageId, queued: true }, `Restart of stage ${stage} (${stageId}) of workflow ${w.id} queued (${QUEUED_NOTE}).`);
}

/** Parses `--data` as a JSON object. Throws CommandError. */
export function parseSignalData(data: string | undefined): Record<string, unknown> {
  if (data === undefined) return {};
  let value: unknown;
  try {
    value = JSON.parse(data);
  } catch (error) {
    throw new CommandError(`--data is not valid JSON: ${(error as Error).message}`, ExitCode.INVALID_INPUT);
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw new CommandError('--data must be a JSON object, e.g. \'{"approved": true}\'', ExitCode.INVALID_INPUT);
  return value as Record<string, unknown>;
}

export async function signalCommand(
  backend: CliBackend,
  output: Output,
  id: string,
  stage: string,
  name: string,
  options: { data?: string; persistent?: boolean; json?: boolean } = {},
): Promise<ExitCode> {
  const data = parseSignalData(options.data);
  const w = await existing(backend, id);
  const stageId = await resolveStage(backend, w.id, stage);
  await new Orchestrator(backend.queue, { store: backend.store }).signal(w.id, stageId, name, data, { persistent: options.persistent ?? false });
  return done(output, options.json, { id: w.id, action: 'signal', stageId, name, data, persistent: options.persistent ?? false, queued: true }, `Signal '${name}' to stage ${stage} (${stageId}) of workflow ${w.id} queued (${QUEUED_NOTE}).`);
}

function deadLetterJson(d: DeadLetter) {
  const message = d.message as { executionId?: string } | null;
  return { id: d.id, originalId: d.originalId, messageType: d.messageType, workflowId: message?.executionId ?? null, attempts: d.attempts, error: d.error, movedAt: d.movedAt };
}

export async function dlqListCommand(backend: CliBackend, output: Output, options: { limit?: number; json?: boolean } = {}): Promise<ExitCode> {
  const limit = options.limit ?? 50;
  if (!Number.isInteger(limit) || limit <= 0) throw new CommandError(`--limit must be a positive integer, got ${limit}`, ExitCode.USAGE);
  const letters = await backend.queue.listDeadLetters({ limit });
  const total = await backend.queue.deadLetterCount();
  if (options.json) {
    output.out(JSON.stringify(letters.map(deadLetterJson), null, 2));
    return ExitCode.OK;
  }
  if (letters.length === 0) {
    output.out('No dead letters.');
    return ExitCode.OK;
  }
  output.out(
    table([
      ['ID', 'TYPE', 'WORKFLOW', 'ATTEMPTS', 'MOVED', 'ERROR'],
      ...letters.map((d) => {
        const j = deadLetterJson(d);
        return [j.id, j.messageType, j.workflowId ?? '-', String(j.attempts), formatTime(j.movedAt), j.error.split('\n')[0]!.slice(0, 80)];
      }),
    ]).join('\n'),
  );
  if (total > letters.length) output.out(`(${letters.length} of ${total} shown; use --limit)`);
  return ExitCode.OK;
}

export async function dlqReplayCommand(backend: CliBackend, output: Output, id: string, options: { json?: boolean } = {}): Promise<ExitCode> {
  const ok = await backend.queue.replayDeadLetter(id);
  if (!ok) throw new CommandError(`No replayable dead letter '${id}'`, ExitCode.NOT_FOUND, 'List them with: stabilize dlq list');
  return done(output, options.json, { id, action: 'replay', replayed: true }, `Dead letter ${id} is back on the queue.`);
}
