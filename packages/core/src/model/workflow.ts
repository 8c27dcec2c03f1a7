import { ulid } from '../ids.js';
import { ValidationError } from '../errors.js';
import { topologicalSort, validateStageGraph } from '../dag/graph.js';
import { mergeContexts } from '../dag/merge.js';
import { assertJsonObject } from '../serialization/json.js';
import { type Context, JoinType, SplitType, StageExecution, type StageExecutionInit } from './stage-execution.js';
import { isWorkflowStatus, WorkflowStatus } from './status.js';

export const WorkflowType = { PIPELINE: 'PIPELINE', ORCHESTRATION: 'ORCHESTRATION' } as const;
export type WorkflowType = (typeof WorkflowType)[keyof typeof WorkflowType];

export interface Trigger {
  type: string;
  user: string;
  parameters: Context;
  artifacts: unknown[];
  payload: Context;
}

export interface PausedDetails {
  pausedBy: string;
  pauseTime: number | null;
  resumeTime: number | null;
  pausedMs: number;
}

export interface WorkflowInit {
  id?: string;
  type?: WorkflowType;
  application?: string;
  name?: string;
  status?: WorkflowStatus;
  stages?: Array<StageExecution | StageExecutionInit>;
  context?: Context;
  trigger?: Partial<Trigger>;
  startTime?: number | null;
  endTime?: number | null;
  startTimeExpiry?: number | null;
  isCanceled?: boolean;
  canceledBy?: string | null;
  cancellationReason?: string | null;
  paused?: PausedDetails | null;
  pipelineConfigId?: string | null;
  isLimitConcurrent?: boolean;
  maxConcurrentExecutions?: number;
  keepWaitingPipelines?: boolean;
  origin?: string;
  configVersion?: string | null;
  createdAt?: number | null;
}

const MAX_ID_LENGTH = 64;
const MAX_REF_ID_LENGTH = 128;

/** A run of a DAG of stages. */
export class Workflow {
  id: string;
  type: WorkflowType;
  application: string;
  name: string;
  status: WorkflowStatus;
  /** All stages, synthetic ones included. May be empty when only the workflow row was loaded. */
  stages: StageExecution[];
  context: Context;
  trigger: Trigger;
  startTime: number | null;
  endTime: number | null;
  startTimeExpiry: number | null;
  isCanceled: boolean;
  canceledBy: string | null;
  cancellationReason: string | null;
  paused: PausedDetails | null;
  pipelineConfigId: string | null;
  isLimitConcurrent: boolean;
  maxConcurrentExecutions: number;
  keepWaitingPipelines: boolean;
  origin: string;
  configVersion: string | null;
  createdAt: number | null;

  constructor(init: WorkflowInit = {}) {
    this.id = init.id ?? ulid();
    this.type = init.type ?? WorkflowType.PIPELINE;
    this.application = init.application ?? '';
    this.name = init.name ?? '';
    this.status = init.status ?? WorkflowStatus.NOT_STARTED;
    this.context = init.context ?? {};
    this.trigger = {
      type: init.trigger?.type ?? 'manual',
      user: init.trigger?.user ?? 'anonymous',
      parameters: init.trigger?.parameters ?? {},
      artifacts: init.trigger?.artifacts ?? [],
      payload: init.trigger?.payload ?? {},
    };
    this.startTime = init.startTime ?? null;
    this.endTime = init.endTime ?? null;
    this.startTimeExpiry = init.startTimeExpiry ?? null;
    this.isCanceled = init.isCanceled ?? false;
    this.canceledBy = init.canceledBy ?? null;
    this.cancellationReason = init.cancellationReason ?? null;
    this.paused = init.paused ?? null;
    this.pipelineConfigId = init.pipelineConfigId ?? null;
    this.isLimitConcurrent = init.isLimitConcurrent ?? false;
    this.maxConcurrentExecutions = init.maxConcurrentExecutions ?? 0;
    this.keepWaitingPipelines = init.keepWaitingPipelines ?? false;
    this.origin = init.origin ?? 'unknown';
    this.configVersion = init.configVersion ?? null;
    this.createdAt = init.createdAt ?? null;
    this.stages = [];
    for (const s of init.stages ?? []) this.addStage(s instanceof StageExecution ? s : new StageExecution(s));
  }

  /**
   * A validated pipeline: the stage graph (duplicate refId, self edge, unknown requisite, cycle) and
   * every field are checked, and a typed error names the culprit before anything is stored.
   */
  static create(init: WorkflowInit & { application: string; name: string }): Workflow {
    const workflow = new Workflow({ ...init, type: init.type ?? WorkflowType.PIPELINE });
    workflow.validate();
    return workflow;
  }

  /** An ORCHESTRATION workflow (validated like a pipeline; upstream skipped validation here). */
  static createOrchestration(init: WorkflowInit & { application: string; name: string }): Workflow {
    return Workflow.create({ ...init, type: WorkflowType.ORCHESTRATION });
  }

  addStage(stage: StageExecution): void {
    stage.executionId = this.id;
    this.stages.push(stage);
  }

  /** Throws `ValidationError` / `InvalidStageGraphError` describing the first problem found. */
  validate(): void {
    checkId('workflow id', this.id, MAX_ID_LENGTH);
    if (typeof this.application !== 'string') throw new ValidationError('workflow application must be a string');
    if (typeof this.name !== 'string') throw new ValidationError('workflow name must be a string');
    assertJsonObject(this.context, 'workflow context');
    assertJsonObject(this.trigger as unknown as Context, 'workflow trigger');
    const ids = new Set<string>();
    for (const stage of this.stages) {
      if (!(stage instanceof StageExecution)) throw new ValidationError('every stage must be a StageExecution');
      checkId('stage id', stage.id, MAX_ID_LENGTH);
      if (ids.has(stage.id)) throw new ValidationError(`stage id '${stage.id}' is used by more than one stage`);
      ids.add(stage.id);
      if (typeof stage.refId !== 'string' || stage.refId.length === 0) {
        throw new ValidationError(`stage '${stage.name || stage.id}' has no refId`);
      }
      checkId(`refId of stage '${stage.refId}'`, stage.refId, MAX_REF_ID_LENGTH);
      if (!Array.isArray(stage.requisiteStageRefIds) || stage.requisiteStageRefIds.some((r) => typeof r !== 'string')) {
        throw new ValidationError(`stage '${stage.refId}': requisiteStageRefIds must be a list of refIds`);
      }
      assertJsonObject(stage.context, `context of stage '${stage.refId}'`);
      assertJsonObject(stage.outputs, `outputs of stage '${stage.refId}'`);
      if (stage.joinType === 'N_OF_M' && (!Number.isInteger(stage.joinThreshold) || stage.joinThreshold < 0)) {
        throw new ValidationError(`stage '${stage.refId}': joinThreshold must be a non-negative integer`);
      }
      validatePatternFields(stage);
      const taskIds = new Set<string>();
      for (const task of stage.tasks) {
        checkId(`task id in stage '${stage.refId}'`, task.id, MAX_ID_LENGTH);
        if (taskIds.has(task.id)) throw new ValidationError(`stage '${stage.refId}': task id '${task.id}' is used twice`);
        taskIds.add(task.id);
        if (typeof task.implementingClass !== 'string' || task.implementingClass.length === 0) {
          throw new ValidationError(`stage '${stage.refId}': task '${task.name}' has no implementingClass`);
        }
      }
      if (stage.parentStageId !== null && !this.stages.some((s) => s.id === stage.parentStageId)) {
        throw new ValidationError(`synthetic stage '${stage.refId}' names a parent stage that is not in the workflow`);
      }
    }
    validateStageGraph(this.topLevelStages());
    // Synthetic children form a small DAG per parent.
    const byParent = new Map<string, StageExecution[]>();
    for (const s of this.stages) {
      if (s.parentStageId === null) continue;
      const list = byParent.get(s.parentStageId) ?? [];
      list.push(s);
      byParent.set(s.parentStageId, list);
    }
    for (const children of byParent.values()) validateStageGraph(children);
  }

  stageById(stageId: string): StageExecution {
    const stage = this.stages.find((s) => s.id === stageId);
    if (!stage) throw new ValidationError(`No stage with id ${stageId} in workflow ${this.id}`);
    return stage;
  }

  stageByRefId(refId: string): StageExecution | undefined {
    return this.stages.find((s) => s.refId === refId && s.parentStageId === null) ?? this.stages.find((s) => s.refId === refId);
  }

  /** Top-level stages with no requisites. */
  initialStages(): StageExecution[] {
    return this.stages.filter((s) => s.isInitial() && !s.isSynthetic());
  }

  topLevelStages(): StageExecution[] {
    return this.stages.filter((s) => !s.isSynthetic());
  }

  /** Outputs of all top-level stages folded in topological order (engine.md §7.4). */
  getContext(): Context {
    let merged: Context = {};
    for (const stage of topologicalSort(this.topLevelStages())) merged = mergeContexts(merged, stage.outputs);
    return merged;
  }

  isPaused(): boolean {
    return this.paused !== null && this.paused.pauseTime !== null && this.paused.resumeTime === null;
  }
}

/** Control-flow pattern fields that can be checked before anything runs (docs/patterns.md). */
function validatePatternFields(stage: StageExecution): void {
  const where = `stage '${stage.refId}'`;
  if (!Object.hasOwn(JoinType, stage.joinType)) throw new ValidationError(`${where}: unknown joinType '${String(stage.joinType)}'`);
  if (!Object.hasOwn(SplitType, stage.splitType)) throw new ValidationError(`${where}: unknown splitType '${String(stage.splitType)}'`);
  const thresholdJoins: readonly string[] = [JoinType.N_OF_M, JoinType.BLOCKING_N_OF_M, JoinType.CANCELLING_N_OF_M, JoinType.THREAD_MERGE];
  if (thresholdJoins.includes(stage.joinType)) {
    if (!Number.isInteger(stage.joinThreshold) || stage.joinThreshold < 0) throw new ValidationError(`${where}: joinThreshold must be a non-negative integer`);
    if (stage.joinType === JoinType.THREAD_MERGE && stage.joinThreshold < 1) throw new ValidationError(`${where}: a THREAD_MERGE needs joinThreshold >= 1`);
    // A partial join that can never fire is a definition error (patterns.md D10), not a runtime hang.
    if (stage.joinType !== JoinType.THREAD_MERGE && stage.parentStageId === null && stage.requisiteStageRefIds.length > 0 && stage.joinThreshold > stage.requisiteStageRefIds.length) {
      throw new ValidationError(`${where}: joinThreshold ${stage.joinThreshold} exceeds its ${stage.requisiteStageRefIds.length} upstream stage(s)`);
    }
  }
  if (stage.milestoneStatus !== null && !isWorkflowStatus(stage.milestoneStatus)) {
    throw new ValidationError(`${where}: milestoneStatus '${String(stage.milestoneStatus)}' is not a status name (use e.g. 'RUNNING')`);
  }
  const threads = stage.context.threadCount;
  if (threads !== undefined && (!Number.isInteger(threads) || (threads as number) < 1)) throw new ValidationError(`${where}: threadCount must be a positive integer`);
  const mi = stage.miConfig;
  if (mi) {
    for (const key of ['count', 'joinThreshold'] as const) {
      const value = mi[key];
      if (value !== undefined && (!Number.isInteger(value) || value < 0)) throw new ValidationError(`${where}: miConfig.${key} must be a non-negative integer`);
    }
  }
}

function checkId(what: string, value: unknown, max: number): void {
  if (typeof value !== 'string' || value.length === 0) throw new ValidationError(`${what} must be a non-empty string`);
  if (value.length > max) throw new ValidationError(`${what} is longer than ${max} characters`);
}
