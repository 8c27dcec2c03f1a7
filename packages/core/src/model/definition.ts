// Workflow definitions as plain JSON (files, HTTP bodies, the CLI's `start`): parsed strictly,
// so a hostile or mistyped definition is rejected with a typed error that says where, before
// anything is stored.
import { ValidationError } from '../errors.js';
import { assertJsonObject } from '../serialization/json.js';
import { type Context, JoinType, SplitType, StageExecution } from './stage-execution.js';
import { isWorkflowStatus } from './status.js';
import { TaskExecution } from './task-execution.js';
import { Workflow } from './workflow.js';

export interface TaskDefinition {
  name?: string;
  implementingClass: string;
}

export interface StageDefinition {
  refId: string;
  type?: string;
  name?: string;
  requisiteStageRefIds?: string[];
  context?: Context;
  /** Without tasks, a stage of type T runs one task registered as T. */
  tasks?: TaskDefinition[];
  joinType?: string;
  joinThreshold?: number;
  splitType?: string;
  splitConditions?: Record<string, string>;
  mutexKey?: string;
  cancelRegion?: string;
  deferredChoiceGroup?: string;
  milestoneRefId?: string;
  milestoneStatus?: string;
  outputReducers?: Record<string, string>;
  startTimeExpiry?: number;
}

export interface WorkflowDefinition {
  application: string;
  name: string;
  stages: StageDefinition[];
  context?: Context;
  trigger?: { type?: string; user?: string; parameters?: Context; artifacts?: unknown[]; payload?: Context };
  pipelineConfigId?: string;
  limitConcurrent?: boolean;
  maxConcurrentExecutions?: number;
  keepWaitingPipelines?: boolean;
}

/** Size bounds for definitions from outside. */
export const DEFINITION_LIMITS = { maxStages: 100_000, maxTasksPerStage: 1000, maxDefinitionBytes: 32 * 1024 * 1024 } as const;

const WORKFLOW_KEYS = new Set(['application', 'name', 'stages', 'context', 'trigger', 'pipelineConfigId', 'limitConcurrent', 'maxConcurrentExecutions', 'keepWaitingPipelines']);
const STAGE_KEYS = new Set([
  'refId',
  'type',
  'name',
  'requisiteStageRefIds',
  'context',
  'tasks',
  'joinType',
  'joinThreshold',
  'splitType',
  'splitConditions',
  'mutexKey',
  'cancelRegion',
  'deferredChoiceGroup',
  'milestoneRefId',
  'milestoneStatus',
  'outputReducers',
  'startTimeExpiry',
]);
const TASK_KEYS = new Set(['name', 'implementingClass']);
const TRIGGER_KEYS = new Set(['type', 'user', 'parameters', 'artifacts', 'payload']);

const isObject = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);

function checkKeys(value: Record<string, unknown>, allowed: ReadonlySet<string>, where: string): void {
  for (const key of Object.keys(value)) if (!allowed.has(key)) throw new ValidationError(`${where}: unknown field '${key}'`);
}

function str(value: unknown, where: string, optional = false): string | undefined {
  if (value === undefined && optional) return undefined;
  if (typeof value !== 'string') throw new ValidationError(`${where} must be a string`);
  return value;
}

function strMap(value: unknown, where: string): Record<string, string> | undefined {
  if (value === undefined) return undefined;
  if (!isObject(value) || Object.values(value).some((v) => typeof v !== 'string')) throw new ValidationError(`${where} must map names to strings`);
  assertJsonObject(value, where);
  return value as Record<string, string>;
}

function oneOf<T extends string>(value: unknown, allowed: readonly T[], where: string): T | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'string' || !(allowed as readonly string[]).includes(value)) throw new ValidationError(`${where} must be one of ${allowed.join(', ')}`);
  return value as T;
}

/**
 * A validated `Workflow` from a JSON definition. Unknown fields, wrong types, prototype-polluting
 * keys, non-JSON values, oversized or invalid graphs all throw `ValidationError` (or
 * `InvalidStageGraphError`) naming the offending path.
 */
export function workflowFromDefinition(input: unknown): Workflow {
  if (!isObject(input)) throw new ValidationError('A workflow definition must be a JSON object');
  assertJsonObject(input, 'definition');
  checkKeys(input, WORKFLOW_KEYS, 'definition');
  const def = input as unknown as WorkflowDefinition;
  if (!Array.isArray(def.stages)) throw new ValidationError('definition.stages must be a list');
  if (def.stages.length > DEFINITION_LIMITS.maxStages) throw new ValidationError(`definition.stages has more than ${DEFINITION_LIMITS.maxStages} stages`);
  // assertJsonObject proved it serializable (no cycles, BigInts or functions).
  const bytes = Buffer.byteLength(JSON.stringify(input), 'utf8');
  if (bytes > DEFINITION_LIMITS.maxDefinitionBytes) throw new ValidationError(`definition is ${bytes} bytes of JSON, more than ${DEFINITION_LIMITS.maxDefinitionBytes}`);
  if (def.context !== undefined && !isObject(def.context)) throw new ValidationError('definition.context must be an object');
  if (def.trigger !== undefined) {
    if (!isObject(def.trigger)) throw new ValidationError('definition.trigger must be an object');
    checkKeys(def.trigger, TRIGGER_KEYS, 'definition.trigger');
    str(def.trigger.type, 'definition.trigger.type', true);
    str(def.trigger.user, 'definition.trigger.user', true);
    for (const key of ['parameters', 'payload'] as const) {
      if (def.trigger[key] !== undefined && !isObject(def.trigger[key])) throw new ValidationError(`definition.trigger.${key} must be an object`);
    }
    if (def.trigger.artifacts !== undefined && !Array.isArray(def.trigger.artifacts)) throw new ValidationError('definition.trigger.artifacts must be a list');
  }
  for (const key of ['limitConcurrent', 'keepWaitingPipelines'] as const) {
    if (def[key] !== undefined && typeof def[key] !== 'boolean') throw new ValidationError(`definition.${key} must be true or false`);
  }
  const max = def.maxConcurrentExecutions;
  if (max !== undefined && (!Number.isSafeInteger(max) || max < 0)) throw new ValidationError('definition.maxConcurrentExecutions must be a non-negative integer');
  const stages = def.stages.map((raw, i) => stageFromDefinition(raw, `definition.stages[${i}]`));
  return Workflow.create({
    application: str(def.application, 'definition.application')!,
    name: str(def.name, 'definition.name')!,
    stages,
    context: def.context ?? {},
    ...(def.trigger ? { trigger: def.trigger } : {}),
    pipelineConfigId: str(def.pipelineConfigId, 'definition.pipelineConfigId', true) ?? null,
    isLimitConcurrent: def.limitConcurrent === true,
    maxConcurrentExecutions: typeof def.maxConcurrentExecutions === 'number' ? def.maxConcurrentExecutions : 0,
    keepWaitingPipelines: def.keepWaitingPipelines === true,
  });
}

function stageFromDefinition(raw: unknown, where: string): StageExecution {
  if (!isObject(raw)) throw new ValidationError(`${where} must be an object`);
  checkKeys(raw, STAGE_KEYS, where);
  const refId = str(raw.refId, `${where}.refId`)!;
  const type = str(raw.type, `${where}.type`, true) ?? '';
  const requisites = raw.requisiteStageRefIds ?? [];
  if (!Array.isArray(requisites) || requisites.some((r) => typeof r !== 'string')) throw new ValidationError(`${where}.requisiteStageRefIds must be a list of refIds`);
  if (raw.context !== undefined && !isObject(raw.context)) throw new ValidationError(`${where}.context must be an object`);
  let tasks: TaskExecution[];
  if (raw.tasks === undefined) {
    if (!type) throw new ValidationError(`${where} needs tasks or a type`);
    tasks = [TaskExecution.create({ name: type, implementingClass: type })];
  } else {
    if (!Array.isArray(raw.tasks)) throw new ValidationError(`${where}.tasks must be a list`);
    if (raw.tasks.length > DEFINITION_LIMITS.maxTasksPerStage) throw new ValidationError(`${where}.tasks has more than ${DEFINITION_LIMITS.maxTasksPerStage} tasks`);
    tasks = raw.tasks.map((t, i) => {
      if (!isObject(t)) throw new ValidationError(`${where}.tasks[${i}] must be an object`);
      checkKeys(t, TASK_KEYS, `${where}.tasks[${i}]`);
      const implementingClass = str(t.implementingClass, `${where}.tasks[${i}].implementingClass`)!;
      return TaskExecution.create({ name: str(t.name, `${where}.tasks[${i}].name`, true) ?? implementingClass, implementingClass });
    });
  }
  if (raw.joinThreshold !== undefined && (!Number.isInteger(raw.joinThreshold) || (raw.joinThreshold as number) < 0)) {
    throw new ValidationError(`${where}.joinThreshold must be a non-negative integer`);
  }
  if (raw.startTimeExpiry !== undefined && typeof raw.startTimeExpiry !== 'number') throw new ValidationError(`${where}.startTimeExpiry must be epoch milliseconds`);
  const milestoneStatus = raw.milestoneStatus;
  if (milestoneStatus !== undefined && !isWorkflowStatus(milestoneStatus)) throw new ValidationError(`${where}.milestoneStatus is not a status`);
  const optional = (key: string) => str(raw[key], `${where}.${key}`, true) ?? null;
  return new StageExecution({
    refId,
    type,
    name: str(raw.name, `${where}.name`, true) ?? refId,
    requisiteStageRefIds: requisites as string[],
    context: (raw.context as Context | undefined) ?? {},
    tasks,
    joinType: oneOf(raw.joinType, Object.values(JoinType), `${where}.joinType`) ?? JoinType.AND,
    joinThreshold: (raw.joinThreshold as number | undefined) ?? 0,
    splitType: oneOf(raw.splitType, Object.values(SplitType), `${where}.splitType`) ?? SplitType.AND,
    splitConditions: strMap(raw.splitConditions, `${where}.splitConditions`) ?? {},
    outputReducers: strMap(raw.outputReducers, `${where}.outputReducers`) ?? {},
    mutexKey: optional('mutexKey'),
    cancelRegion: optional('cancelRegion'),
    deferredChoiceGroup: optional('deferredChoiceGroup'),
    milestoneRefId: optional('milestoneRefId'),
    milestoneStatus: (milestoneStatus as StageExecution['milestoneStatus']) ?? null,
    startTimeExpiry: (raw.startTimeExpiry as number | undefined) ?? null,
  });
}
