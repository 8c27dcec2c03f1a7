// Row <-> model mapping. Column names are the snake_case forms of the model fields. JSON columns
// arrive as text (see the pool's type parsers) and go through core's `parseJson`. A value the
// engine cannot trust raises CorruptRowError naming the table, the row, its workflow and the column.
import {
  CorruptRowError,
  isWorkflowStatus,
  JoinType,
  type MultiInstanceConfig,
  parseJson,
  type PausedDetails,
  SplitType,
  StageExecution,
  type StageSummary,
  SyntheticStageOwner,
  TaskExecution,
  type Trigger,
  Workflow,
  type WorkflowStatus,
  type WorkflowType,
} from '@stabilize/core';

type Json = Record<string, unknown>;

/** The row being decoded, for CorruptRowError. */
interface RowLocation {
  table: string;
  rowId: string;
  workflowId: string | null;
}

function corrupt(at: RowLocation, column: string, problem: string, cause?: unknown): CorruptRowError {
  return new CorruptRowError({ ...at, column }, problem, cause === undefined ? undefined : { cause });
}

function parse(text: string | null, at: RowLocation, column: string, fallback: unknown): unknown {
  try {
    return parseJson<unknown>(text, `${at.table} row ${at.rowId} (column ${column})`, fallback);
  } catch (error) {
    throw corrupt(at, column, `malformed JSON (${(error as { cause?: Error }).cause?.message ?? (error as Error).message})`, error);
  }
}

function status(value: unknown, at: RowLocation, column = 'status'): WorkflowStatus {
  if (!isWorkflowStatus(value)) throw corrupt(at, column, `Unknown value '${String(value)}'`);
  return value;
}

function oneOf<T extends string>(value: unknown, allowed: Record<string, T>, at: RowLocation, column: string): T {
  if (!(Object.values(allowed) as unknown[]).includes(value)) throw corrupt(at, column, `Unknown value '${String(value)}'`);
  return value as T;
}

function jsonObject(text: unknown, at: RowLocation, column: string): Json {
  if (text !== null && typeof text === 'object' && !Array.isArray(text)) return text as Json;
  const value = typeof text === 'string' || text === null || text === undefined ? parse((text as string | null) ?? null, at, column, {}) : text;
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw corrupt(at, column, 'Expected a JSON object');
  return value as Json;
}

function jsonObjectOrNull(text: unknown, at: RowLocation, column: string): Json | null {
  if (text === null || text === undefined) return null;
  const value = typeof text === 'string' ? parse(text, at, column, null) : text;
  if (value === null) return null;
  if (typeof value !== 'object' || Array.isArray(value)) throw corrupt(at, column, 'Expected a JSON object');
  return value as Json;
}

const num = (v: unknown): number | null => (v === null || v === undefined ? null : Number(v));

// ---- workflows ------------------------------------------------------------------------------------

export interface WorkflowRow {
  id: string;
  type: string;
  application: string;
  name: string | null;
  status: string;
  start_time: number | null;
  end_time: number | null;
  start_time_expiry: number | null;
  trigger: string | null;
  context: string | null;
  is_canceled: boolean;
  canceled_by: string | null;
  cancellation_reason: string | null;
  paused: string | null;
  pipeline_config_id: string | null;
  is_limit_concurrent: boolean;
  max_concurrent_executions: number;
  keep_waiting_pipelines: boolean;
  origin: string;
  config_version: string | null;
  created_at: number | null;
}

export const WORKFLOW_COLUMNS = [
  'id',
  'type',
  'application',
  'name',
  'status',
  'start_time',
  'end_time',
  'start_time_expiry',
  'trigger',
  'context',
  'is_canceled',
  'canceled_by',
  'cancellation_reason',
  'paused',
  'pipeline_config_id',
  'is_limit_concurrent',
  'max_concurrent_executions',
  'keep_waiting_pipelines',
  'origin',
  'config_version',
  'created_at',
] as const;

/** `paused` is stored in the upstream format: `{paused_by, pause_time, resume_time, paused_ms}`. */
function pausedToJson(paused: PausedDetails | null): Json | null {
  if (!paused) return null;
  return { paused_by: paused.pausedBy, pause_time: paused.pauseTime, resume_time: paused.resumeTime, paused_ms: paused.pausedMs };
}

function pausedFromJson(json: Json | null): PausedDetails | null {
  if (!json) return null;
  return {
    pausedBy: String(json.paused_by ?? ''),
    pauseTime: num(json.pause_time),
    resumeTime: num(json.resume_time),
    pausedMs: Number(json.paused_ms ?? 0),
  };
}

export function workflowFromRow(row: WorkflowRow): Workflow {
  const at: RowLocation = { table: 'pipeline_executions', rowId: row.id, workflowId: row.id };
  const trigger = jsonObjectOrNull(row.trigger, at, 'trigger') ?? {};
  return new Workflow({
    id: row.id,
    type: row.type as WorkflowType,
    application: row.application,
    name: row.name ?? '',
    status: status(row.status, at),
    context: jsonObject(row.context, at, 'context'),
    trigger: trigger as Partial<Trigger>,
    startTime: num(row.start_time),
    endTime: num(row.end_time),
    startTimeExpiry: num(row.start_time_expiry),
    isCanceled: row.is_canceled,
    canceledBy: row.canceled_by,
    cancellationReason: row.cancellation_reason,
    paused: pausedFromJson(jsonObjectOrNull(row.paused, at, 'paused')),
    pipelineConfigId: row.pipeline_config_id,
    isLimitConcurrent: row.is_limit_concurrent,
    maxConcurrentExecutions: row.max_concurrent_executions,
    keepWaitingPipelines: row.keep_waiting_pipelines,
    origin: row.origin,
    configVersion: row.config_version,
    createdAt: num(row.created_at),
  });
}

/** The insert record of a workflow row (jsonb_to_recordset input); `created_at` null = "now". */
export function workflowRecord(w: Workflow, createdAt: number | null): Json {
  return {
    id: w.id,
    type: w.type,
    application: w.application,
    name: w.name,
    status: w.status,
    start_time: w.startTime,
    end_time: w.endTime,
    start_time_expiry: w.startTimeExpiry,
    trigger: w.trigger,
    context: w.context,
    is_canceled: w.isCanceled,
    canceled_by: w.canceledBy,
    cancellation_reason: w.cancellationReason,
    paused: pausedToJson(w.paused),
    pipeline_config_id: w.pipelineConfigId,
    is_limit_concurrent: w.isLimitConcurrent,
    max_concurrent_executions: w.maxConcurrentExecutions,
    keep_waiting_pipelines: w.keepWaitingPipelines,
    origin: w.origin,
    config_version: w.configVersion,
    created_at: createdAt,
  };
}

export { pausedToJson };

// ---- stages and tasks ----------------------------------------------------------------------------

export interface TaskJson {
  id: string;
  name: string;
  implementing_class: string;
  status: string;
  start_time: number | null;
  end_time: number | null;
  stage_start: boolean;
  stage_end: boolean;
  loop_start: boolean;
  loop_end: boolean;
  task_exception_details: Json | null;
  version: number;
}

export interface StageRow {
  id: string;
  execution_id: string;
  ref_id: string;
  type: string;
  name: string | null;
  status: string;
  context: string;
  outputs: string;
  requisite_stage_ref_ids: string[] | null;
  parent_stage_id: string | null;
  synthetic_stage_owner: string | null;
  start_time: number | null;
  end_time: number | null;
  start_time_expiry: number | null;
  scheduled_time: number | null;
  version: number;
  join_type: string;
  join_threshold: number;
  split_type: string;
  split_conditions: string;
  mi_config: string | null;
  deferred_choice_group: string | null;
  milestone_ref_id: string | null;
  milestone_status: string | null;
  mutex_key: string | null;
  cancel_region: string | null;
  output_reducers: string;
  ancestor_outputs: string | null;
  /** JSON array of task rows (json_agg), or null when the stage has no tasks. */
  tasks: string | null;
}

/** Stage columns written on insert, in table order (position comes from its sequence). */
export const STAGE_INSERT_COLUMNS: ReadonlyArray<readonly [string, string]> = [
  ['id', 'text'],
  ['execution_id', 'text'],
  ['ref_id', 'text'],
  ['type', 'text'],
  ['name', 'text'],
  ['status', 'text'],
  ['context', 'jsonb'],
  ['outputs', 'jsonb'],
  ['requisite_stage_ref_ids', 'text[]'],
  ['parent_stage_id', 'text'],
  ['synthetic_stage_owner', 'text'],
  ['start_time', 'bigint'],
  ['end_time', 'bigint'],
  ['start_time_expiry', 'bigint'],
  ['scheduled_time', 'bigint'],
  ['version', 'integer'],
  ['join_type', 'text'],
  ['join_threshold', 'integer'],
  ['split_type', 'text'],
  ['split_conditions', 'jsonb'],
  ['mi_config', 'jsonb'],
  ['deferred_choice_group', 'text'],
  ['milestone_ref_id', 'text'],
  ['milestone_status', 'text'],
  ['mutex_key', 'text'],
  ['cancel_region', 'text'],
  ['output_reducers', 'jsonb'],
  ['ancestor_outputs', 'jsonb'],
];

/**
 * Columns an update rewrites: the stage's state. Structure and configuration are written once at
 * insert (as in the in-memory reference); version is bumped by the update itself.
 */
export const STAGE_UPDATE_COLUMNS: ReadonlyArray<readonly [string, string]> = STAGE_INSERT_COLUMNS.filter(([c]) =>
  ['status', 'context', 'outputs', 'start_time', 'end_time', 'ancestor_outputs'].includes(c),
);

export const TASK_COLUMNS: ReadonlyArray<readonly [string, string]> = [
  ['id', 'text'],
  ['stage_id', 'text'],
  ['position', 'integer'],
  ['name', 'text'],
  ['implementing_class', 'text'],
  ['status', 'text'],
  ['start_time', 'bigint'],
  ['end_time', 'bigint'],
  ['stage_start', 'boolean'],
  ['stage_end', 'boolean'],
  ['loop_start', 'boolean'],
  ['loop_end', 'boolean'],
  ['task_exception_details', 'jsonb'],
  ['version', 'integer'],
];

export function stageRecord(stage: StageExecution, executionId: string): Json {
  return {
    id: stage.id,
    execution_id: executionId,
    ref_id: stage.refId,
    type: stage.type,
    name: stage.name,
    status: stage.status,
    context: stage.context,
    outputs: stage.outputs,
    requisite_stage_ref_ids: stage.requisiteStageRefIds,
    parent_stage_id: stage.parentStageId,
    synthetic_stage_owner: stage.syntheticStageOwner,
    start_time: stage.startTime,
    end_time: stage.endTime,
    start_time_expiry: stage.startTimeExpiry,
    scheduled_time: stage.scheduledTime,
    version: stage.version,
    join_type: stage.joinType,
    join_threshold: stage.joinThreshold,
    split_type: stage.splitType,
    split_conditions: stage.splitConditions,
    mi_config: stage.miConfig,
    deferred_choice_group: stage.deferredChoiceGroup,
    milestone_ref_id: stage.milestoneRefId,
    milestone_status: stage.milestoneStatus,
    mutex_key: stage.mutexKey,
    cancel_region: stage.cancelRegion,
    output_reducers: stage.outputReducers,
    ancestor_outputs: stage.ancestorOutputs,
  };
}

export function taskRecords(stage: StageExecution): Json[] {
  return stage.tasks.map((t, position) => ({
    id: t.id,
    stage_id: stage.id,
    position,
    name: t.name,
    implementing_class: t.implementingClass,
    status: t.status,
    start_time: t.startTime,
    end_time: t.endTime,
    stage_start: t.stageStart,
    stage_end: t.stageEnd,
    loop_start: t.loopStart,
    loop_end: t.loopEnd,
    task_exception_details: t.taskExceptionDetails,
    version: t.version,
  }));
}

function taskFromJson(t: TaskJson, workflowId: string): TaskExecution {
  return new TaskExecution({
    id: t.id,
    name: t.name,
    implementingClass: t.implementing_class,
    status: status(t.status, { table: 'task_executions', rowId: t.id, workflowId }),
    startTime: num(t.start_time),
    endTime: num(t.end_time),
    stageStart: t.stage_start,
    stageEnd: t.stage_end,
    loopStart: t.loop_start,
    loopEnd: t.loop_end,
    taskExceptionDetails: jsonObjectOrNull(t.task_exception_details, { table: 'task_executions', rowId: t.id, workflowId }, 'task_exception_details') ?? {},
    version: t.version,
  });
}

export function stageFromRow(row: StageRow): StageExecution {
  const at: RowLocation = { table: 'stage_executions', rowId: row.id, workflowId: row.execution_id };
  const tasks = row.tasks === null ? [] : (parse(row.tasks, at, 'tasks', []) as TaskJson[]);
  return new StageExecution({
    id: row.id,
    executionId: row.execution_id,
    refId: row.ref_id,
    type: row.type,
    name: row.name ?? '',
    status: status(row.status, at),
    context: jsonObject(row.context, at, 'context'),
    outputs: jsonObject(row.outputs, at, 'outputs'),
    tasks: tasks.map((t) => taskFromJson(t, row.execution_id)),
    requisiteStageRefIds: row.requisite_stage_ref_ids ?? [],
    parentStageId: row.parent_stage_id,
    syntheticStageOwner: row.synthetic_stage_owner === null ? null : oneOf(row.synthetic_stage_owner, SyntheticStageOwner, at, 'synthetic_stage_owner'),
    startTime: num(row.start_time),
    endTime: num(row.end_time),
    startTimeExpiry: num(row.start_time_expiry),
    scheduledTime: num(row.scheduled_time),
    version: row.version,
    joinType: oneOf(row.join_type, JoinType, at, 'join_type'),
    joinThreshold: row.join_threshold,
    splitType: oneOf(row.split_type, SplitType, at, 'split_type'),
    splitConditions: jsonObject(row.split_conditions, at, 'split_conditions') as Record<string, string>,
    miConfig: jsonObjectOrNull(row.mi_config, at, 'mi_config') as MultiInstanceConfig | null,
    deferredChoiceGroup: row.deferred_choice_group,
    milestoneRefId: row.milestone_ref_id,
    milestoneStatus: row.milestone_status === null ? null : status(row.milestone_status, at, 'milestone_status'),
    mutexKey: row.mutex_key,
    cancelRegion: row.cancel_region,
    outputReducers: jsonObject(row.output_reducers, at, 'output_reducers') as Record<string, string>,
    ancestorOutputs: jsonObjectOrNull(row.ancestor_outputs, at, 'ancestor_outputs'),
  });
}

export interface SummaryRow {
  id: string;
  ref_id: string;
  status: string;
  requisite_stage_ref_ids: string[] | null;
  parent_stage_id: string | null;
  synthetic_stage_owner: string | null;
  context: string;
  outputs: string;
}

export function summaryFromRow(row: SummaryRow, workflowId: string | null = null): StageSummary {
  const at: RowLocation = { table: 'stage_executions', rowId: row.id, workflowId };
  return {
    id: row.id,
    refId: row.ref_id,
    status: status(row.status, at),
    requisiteStageRefIds: row.requisite_stage_ref_ids ?? [],
    parentStageId: row.parent_stage_id,
    syntheticStageOwner: row.synthetic_stage_owner === null ? null : oneOf(row.synthetic_stage_owner, SyntheticStageOwner, at, 'synthetic_stage_owner'),
    context: jsonObject(row.context, at, 'context'),
    outputs: jsonObject(row.outputs, at, 'outputs'),
  };
}

/** `name type, ...` for a jsonb_to_recordset column definition list. */
export function columnDefs(columns: ReadonlyArray<readonly [string, string]>): string {
  return columns.map(([c, t]) => `${c} ${t}`).join(', ');
}
