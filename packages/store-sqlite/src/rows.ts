// Model <-> row conversion. Encoding happens before a transaction opens (so JSON work never holds
// the write lock); decoding rejects anything the engine cannot trust with CorruptRowError naming
// the table, the row, its workflow and the column.
import {
  CorruptRowError,
  JoinType,
  type Message,
  parseJson,
  SplitType,
  StageExecution,
  type StageSummary,
  SyntheticStageOwner,
  TaskExecution,
  ValidationError,
  Workflow,
  WorkflowStatus,
  WorkflowType,
} from '@stabilize/core';
import { getTableColumns } from 'drizzle-orm';
import type { SQLiteTable } from 'drizzle-orm/sqlite-core';
import type { queueMessages, StageRow, stageExecutions, TaskRow, taskExecutions, WorkflowRow, pipelineExecutions } from './schema.js';

// ---- SQL text derived from the drizzle tables -------------------------------------------------

/** `"col" AS "key", ...`: raw rows then have the same keys as drizzle's `$inferSelect`. */
export function selectList(table: SQLiteTable, alias?: string): string {
  const prefix = alias ? `${alias}.` : '';
  return Object.entries(getTableColumns(table))
    .map(([key, column]) => `${prefix}"${column.name}" AS "${key}"`)
    .join(', ');
}

/** `INSERT INTO t (cols) VALUES (@key, ...)` over every column except `omit`. */
export function insertSql(table: SQLiteTable, name: string, omit: readonly string[] = []): string {
  const columns = Object.entries(getTableColumns(table)).filter(([key]) => !omit.includes(key));
  return `INSERT INTO ${name} (${columns.map(([, c]) => `"${c.name}"`).join(', ')}) VALUES (${columns.map(([key]) => `@${key}`).join(', ')})`;
}

// ---- encoding ---------------------------------------------------------------------------------

export type WorkflowInsert = typeof pipelineExecutions.$inferInsert;
export type StageInsert = typeof stageExecutions.$inferInsert & { position: number };
export type TaskInsert = typeof taskExecutions.$inferInsert & { position: number };
export type MessageInsert = Omit<typeof queueMessages.$inferInsert, 'id'>;

const bool = (value: boolean): number => (value ? 1 : 0);

/** JSON.stringify that names the culprit instead of storing `undefined` or a half-written value. */
export function toJson(value: unknown, what: string): string {
  let text: string | undefined;
  try {
    text = JSON.stringify(value);
  } catch (error) {
    throw new ValidationError(`${what} cannot be stored as JSON: ${(error as Error).message}`, { cause: error });
  }
  if (text === undefined) throw new ValidationError(`${what} cannot be stored as JSON`);
  return text;
}

const jsonOrNull = (value: unknown, what: string): string | null => (value === null || value === undefined ? null : toJson(value, what));

export function workflowToRow(w: Workflow, createdAt: number): Required<WorkflowInsert> {
  const what = `workflow ${w.id}`;
  return {
    id: w.id,
    type: w.type,
    application: w.application,
    name: w.name,
    status: w.status,
    context: toJson(w.context, `context of ${what}`),
    trigger: toJson(w.trigger, `trigger of ${what}`),
    startTime: w.startTime,
    endTime: w.endTime,
    startTimeExpiry: w.startTimeExpiry,
    isCanceled: bool(w.isCanceled),
    canceledBy: w.canceledBy,
    cancellationReason: w.cancellationReason,
    paused: jsonOrNull(w.paused, `paused of ${what}`),
    pipelineConfigId: w.pipelineConfigId,
    isLimitConcurrent: bool(w.isLimitConcurrent),
    maxConcurrentExecutions: w.maxConcurrentExecutions,
    keepWaitingPipelines: bool(w.keepWaitingPipelines),
    origin: w.origin,
    configVersion: w.configVersion,
    createdAt: w.createdAt ?? createdAt,
  };
}

export function stageToRow(s: StageExecution, executionId: string, position: number): Required<StageInsert> {
  const what = `stage ${s.id}`;
  return {
    id: s.id,
    executionId,
    position,
    refId: s.refId,
    type: s.type,
    name: s.name,
    status: s.status,
    context: toJson(s.context, `context of ${what}`),
    outputs: toJson(s.outputs, `outputs of ${what}`),
    requisiteStageRefIds: toJson(s.requisiteStageRefIds, `requisiteStageRefIds of ${what}`),
    parentStageId: s.parentStageId,
    syntheticStageOwner: s.syntheticStageOwner,
    startTime: s.startTime,
    endTime: s.endTime,
    startTimeExpiry: s.startTimeExpiry,
    scheduledTime: s.scheduledTime,
    version: s.version,
    joinType: s.joinType,
    joinThreshold: s.joinThreshold,
    splitType: s.splitType,
    splitConditions: toJson(s.splitConditions, `splitConditions of ${what}`),
    miConfig: jsonOrNull(s.miConfig, `miConfig of ${what}`),
    deferredChoiceGroup: s.deferredChoiceGroup,
    milestoneRefId: s.milestoneRefId,
    milestoneStatus: s.milestoneStatus,
    mutexKey: s.mutexKey,
    cancelRegion: s.cancelRegion,
    outputReducers: toJson(s.outputReducers, `outputReducers of ${what}`),
    ancestorOutputs: jsonOrNull(s.ancestorOutputs, `ancestorOutputs of ${what}`),
  };
}

/** The columns a stage update writes: its state, never its structure (written once at insert). */
export interface StageStateRow {
  id: string;
  version: number;
  status: string;
  context: string;
  outputs: string;
  startTime: number | null;
  endTime: number | null;
  ancestorOutputs: string | null;
}

export function stageStateToRow(s: StageExecution): StageStateRow {
  const what = `stage ${s.id}`;
  return {
    id: s.id,
    version: s.version,
    status: s.status,
    context: toJson(s.context, `context of ${what}`),
    outputs: toJson(s.outputs, `outputs of ${what}`),
    startTime: s.startTime,
    endTime: s.endTime,
    ancestorOutputs: jsonOrNull(s.ancestorOutputs, `ancestorOutputs of ${what}`),
  };
}

export function taskToRow(t: TaskExecution, stageId: string, position: number): Required<TaskInsert> {
  return {
    id: t.id,
    stageId,
    position,
    name: t.name,
    implementingClass: t.implementingClass,
    status: t.status,
    startTime: t.startTime,
    endTime: t.endTime,
    stageStart: bool(t.stageStart),
    stageEnd: bool(t.stageEnd),
    loopStart: bool(t.loopStart),
    loopEnd: bool(t.loopEnd),
    taskExceptionDetails: toJson(t.taskExceptionDetails, `taskExceptionDetails of task ${t.id}`),
    version: t.version,
  };
}

/** The queue row of a message; `executionId` / `taskId` are copied out so they can be indexed. */
export function messageToRow(message: Message, now: number, delayMs: number, maxAttempts: number): Required<MessageInsert> {
  if (message === null || typeof message !== 'object' || typeof (message as { type?: unknown }).type !== 'string') {
    throw new ValidationError('A queue message must be an object with a string `type`');
  }
  const fields = message as { executionId?: unknown; taskId?: unknown };
  return {
    messageType: message.type,
    payload: toJson(message, `${message.type} message`),
    executionId: typeof fields.executionId === 'string' ? fields.executionId : null,
    taskId: typeof fields.taskId === 'string' ? fields.taskId : null,
    deliverAt: now + Math.max(0, Math.round(delayMs)),
    leaseUntil: null,
    leaseToken: null,
    attempts: 0,
    maxAttempts,
    lastError: null,
    createdAt: now,
    dedupeKey: null,
  };
}

// ---- decoding ---------------------------------------------------------------------------------

const STATUSES = new Set<string>(Object.values(WorkflowStatus));
const WORKFLOW_TYPES = new Set<string>(Object.values(WorkflowType));
const OWNERS = new Set<string>(Object.values(SyntheticStageOwner));
const JOIN_TYPES = new Set<string>(Object.values(JoinType));
const SPLIT_TYPES = new Set<string>(Object.values(SplitType));

/** Decodes the columns of one row; every error is a CorruptRowError naming table, row, workflow and column. */
class RowReader {
  constructor(
    private readonly table: string,
    private readonly id: string | number,
    private readonly workflowId: string | null = null,
  ) {}

  corrupt(column: string, problem: string, cause?: unknown): CorruptRowError {
    return new CorruptRowError({ table: this.table, rowId: String(this.id), workflowId: this.workflowId, column }, problem, cause === undefined ? undefined : { cause });
  }

  private parse(text: string | null, column: string, fallback: unknown): unknown {
    try {
      return parseJson<unknown>(text, `${this.table} row ${this.id} (column ${column})`, fallback);
    } catch (error) {
      throw this.corrupt(column, `malformed JSON (${(error as { cause?: Error }).cause?.message ?? (error as Error).message})`, error);
    }
  }

  object(text: string | null, column: string): Record<string, unknown> {
    const value = this.parse(text, column, {});
    if (value === null || typeof value !== 'object' || Array.isArray(value)) throw this.corrupt(column, 'Expected a JSON object');
    return value as Record<string, unknown>;
  }

  objectOrNull(text: string | null, column: string): Record<string, unknown> | null {
    return text === null ? null : this.object(text, column);
  }

  strings(text: string | null, column: string): string[] {
    const value = this.parse(text, column, []);
    if (!Array.isArray(value) || value.some((v) => typeof v !== 'string')) throw this.corrupt(column, 'Expected a JSON array of strings');
    return value as string[];
  }

  oneOf<T extends string>(value: string, allowed: ReadonlySet<string>, column: string): T {
    if (!allowed.has(value)) throw this.corrupt(column, `Unknown value '${value}'`);
    return value as T;
  }

  oneOfOrNull<T extends string>(value: string | null, allowed: ReadonlySet<string>, column: string): T | null {
    return value === null ? null : this.oneOf<T>(value, allowed, column);
  }

  status(value: string, column = 'status'): WorkflowStatus {
    return this.oneOf<WorkflowStatus>(value, STATUSES, column);
  }
}

export function rowToWorkflow(row: WorkflowRow): Workflow {
  const r = new RowReader('pipeline_executions', row.id, row.id);
  return new Workflow({
    id: row.id,
    type: r.oneOf<WorkflowType>(row.type, WORKFLOW_TYPES, 'type'),
    application: row.application,
    name: row.name,
    status: r.status(row.status),
    context: r.object(row.context, 'context'),
    trigger: r.object(row.trigger, 'trigger'),
    startTime: row.startTime,
    endTime: row.endTime,
    startTimeExpiry: row.startTimeExpiry,
    isCanceled: row.isCanceled !== 0,
    canceledBy: row.canceledBy,
    cancellationReason: row.cancellationReason,
    paused: r.objectOrNull(row.paused, 'paused') as Workflow['paused'],
    pipelineConfigId: row.pipelineConfigId,
    isLimitConcurrent: row.isLimitConcurrent !== 0,
    maxConcurrentExecutions: row.maxConcurrentExecutions,
    keepWaitingPipelines: row.keepWaitingPipelines !== 0,
    origin: row.origin,
    configVersion: row.configVersion,
    createdAt: row.createdAt,
  });
}

export function rowToTask(row: TaskRow, workflowId: string | null = null): TaskExecution {
  const r = new RowReader('task_executions', row.id, workflowId);
  return new TaskExecution({
    id: row.id,
    name: row.name,
    implementingClass: row.implementingClass,
    status: r.status(row.status),
    startTime: row.startTime,
    endTime: row.endTime,
    stageStart: row.stageStart !== 0,
    stageEnd: row.stageEnd !== 0,
    loopStart: row.loopStart !== 0,
    loopEnd: row.loopEnd !== 0,
    taskExceptionDetails: r.object(row.taskExceptionDetails, 'task_exception_details'),
    version: row.version,
  });
}

export function rowToStage(row: StageRow, tasks: TaskExecution[]): StageExecution {
  const r = new RowReader('stage_executions', row.id, row.executionId);
  return new StageExecution({
    id: row.id,
    executionId: row.executionId,
    refId: row.refId,
    type: row.type,
    name: row.name,
    status: r.status(row.status),
    context: r.object(row.context, 'context'),
    outputs: r.object(row.outputs, 'outputs'),
    tasks,
    requisiteStageRefIds: r.strings(row.requisiteStageRefIds, 'requisite_stage_ref_ids'),
    parentStageId: row.parentStageId,
    syntheticStageOwner: r.oneOfOrNull<SyntheticStageOwner>(row.syntheticStageOwner, OWNERS, 'synthetic_stage_owner'),
    startTime: row.startTime,
    endTime: row.endTime,
    startTimeExpiry: row.startTimeExpiry,
    scheduledTime: row.scheduledTime,
    version: row.version,
    joinType: r.oneOf<JoinType>(row.joinType, JOIN_TYPES, 'join_type'),
    joinThreshold: row.joinThreshold,
    splitType: r.oneOf<SplitType>(row.splitType, SPLIT_TYPES, 'split_type'),
    splitConditions: r.object(row.splitConditions, 'split_conditions') as Record<string, string>,
    miConfig: r.objectOrNull(row.miConfig, 'mi_config'),
    deferredChoiceGroup: row.deferredChoiceGroup,
    milestoneRefId: row.milestoneRefId,
    milestoneStatus: row.milestoneStatus === null ? null : r.status(row.milestoneStatus, 'milestone_status'),
    mutexKey: row.mutexKey,
    cancelRegion: row.cancelRegion,
    outputReducers: r.object(row.outputReducers, 'output_reducers') as Record<string, string>,
    ancestorOutputs: r.objectOrNull(row.ancestorOutputs, 'ancestor_outputs'),
  });
}

export type SummaryRow = Pick<StageRow, 'id' | 'refId' | 'status' | 'requisiteStageRefIds' | 'parentStageId' | 'syntheticStageOwner' | 'context' | 'outputs'>;

export function rowToSummary(row: SummaryRow, workflowId: string | null = null): StageSummary {
  const r = new RowReader('stage_executions', row.id, workflowId);
  return {
    id: row.id,
    refId: row.refId,
    status: r.status(row.status),
    requisiteStageRefIds: r.strings(row.requisiteStageRefIds, 'requisite_stage_ref_ids'),
    parentStageId: row.parentStageId,
    syntheticStageOwner: r.oneOfOrNull<SyntheticStageOwner>(row.syntheticStageOwner, OWNERS, 'synthetic_stage_owner'),
    context: r.object(row.context, 'context'),
    outputs: r.object(row.outputs, 'outputs'),
  };
}

/**
 * The message of a queue or DLQ row; CorruptRowError when it is not a JSON object with a string
 * `type`. An unknown type is decoded: the processor dead-letters it and marks its workflow.
 */
export function payloadToMessage(payload: string, table: string, id: number, workflowId: string | null = null): Message {
  const r = new RowReader(table, id, workflowId);
  const value = r.object(payload, 'payload');
  if (typeof value.type !== 'string') throw r.corrupt('payload', 'Expected a message object with a string type');
  return value as unknown as Message;
}
