import { isDeepStrictEqual } from 'node:util';
import { ulid } from '../ids.js';
import { HALT_STATUSES, isContinuable, WorkflowStatus } from './status.js';
import { TaskExecution, type TaskExecutionInit } from './task-execution.js';

export const SyntheticStageOwner = { STAGE_BEFORE: 'STAGE_BEFORE', STAGE_AFTER: 'STAGE_AFTER' } as const;
export type SyntheticStageOwner = (typeof SyntheticStageOwner)[keyof typeof SyntheticStageOwner];

export const JoinType = {
  AND: 'AND',
  OR: 'OR',
  MULTI_MERGE: 'MULTI_MERGE',
  DISCRIMINATOR: 'DISCRIMINATOR',
  N_OF_M: 'N_OF_M',
  /** WCP-28: fires on the first branch of a round, then blocks until every live branch has arrived. */
  BLOCKING_DISCRIMINATOR: 'BLOCKING_DISCRIMINATOR',
  /** WCP-29: fires on the first branch and withdraws the unfinished stages that only feed it. */
  CANCELLING_DISCRIMINATOR: 'CANCELLING_DISCRIMINATOR',
  /** WCP-31: N of M per round; later branches of a round are absorbed until the round is complete. */
  BLOCKING_N_OF_M: 'BLOCKING_N_OF_M',
  /** WCP-32: fires at N of M and withdraws the unfinished stages that only feed it. */
  CANCELLING_N_OF_M: 'CANCELLING_N_OF_M',
  /** WCP-33: fires once per complete set of threads (one from every live branch); extra threads wait. */
  GENERALISED_AND: 'GENERALISED_AND',
  /** WCP-41: fires once per `joinThreshold` threads arriving on its incoming branch(es). */
  THREAD_MERGE: 'THREAD_MERGE',
} as const;
export type JoinType = (typeof JoinType)[keyof typeof JoinType];

export const SplitType = { AND: 'AND', OR: 'OR', XOR: 'XOR' } as const;
export type SplitType = (typeof SplitType)[keyof typeof SplitType];

export interface MultiInstanceConfig {
  count?: number;
  countFromContext?: string;
  syncOnComplete?: boolean;
  allowDynamic?: boolean;
  collectionFromContext?: string;
  joinThreshold?: number;
  cancelRemaining?: boolean;
  /** Context key under which each instance created from `collectionFromContext` gets its item (default `item`). */
  itemContextKey?: string;
}

export type Context = Record<string, unknown>;

export interface StageExecutionInit {
  id?: string;
  refId: string;
  type?: string;
  name?: string;
  status?: WorkflowStatus;
  context?: Context;
  outputs?: Context;
  tasks?: Array<TaskExecution | TaskExecutionInit>;
  requisiteStageRefIds?: Iterable<string>;
  parentStageId?: string | null;
  syntheticStageOwner?: SyntheticStageOwner | null;
  startTime?: number | null;
  endTime?: number | null;
  startTimeExpiry?: number | null;
  scheduledTime?: number | null;
  version?: number;
  joinType?: JoinType;
  joinThreshold?: number;
  splitType?: SplitType;
  splitConditions?: Record<string, string>;
  miConfig?: MultiInstanceConfig | null;
  deferredChoiceGroup?: string | null;
  milestoneRefId?: string | null;
  milestoneStatus?: WorkflowStatus | null;
  mutexKey?: string | null;
  cancelRegion?: string | null;
  outputReducers?: Record<string, string>;
  executionId?: string;
  ancestorOutputs?: Context | null;
}

/**
 * A node of the workflow DAG. Its tasks run in order; its outputs flow to its descendants.
 * Stages with a `parentStageId` are synthetic: they run before or after their parent's tasks.
 */
export class StageExecution {
  id: string;
  refId: string;
  type: string;
  name: string;
  status: WorkflowStatus;
  context: Context;
  outputs: Context;
  tasks: TaskExecution[];
  requisiteStageRefIds: string[];
  parentStageId: string | null;
  syntheticStageOwner: SyntheticStageOwner | null;
  startTime: number | null;
  endTime: number | null;
  startTimeExpiry: number | null;
  scheduledTime: number | null;
  /** Optimistic-lock counter, +1 on every stored update. */
  version: number;
  joinType: JoinType;
  joinThreshold: number;
  splitType: SplitType;
  splitConditions: Record<string, string>;
  miConfig: MultiInstanceConfig | null;
  deferredChoiceGroup: string | null;
  milestoneRefId: string | null;
  milestoneStatus: WorkflowStatus | null;
  mutexKey: string | null;
  cancelRegion: string | null;
  outputReducers: Record<string, string>;
  /** Id of the workflow this stage belongs to (set when the workflow is created or loaded). */
  executionId: string;
  /**
   * The merged outputs of all ancestors as computed when this stage was last planned. Kept so a
   * chain's next stage can extend it instead of re-reading every ancestor (O(1) per stage).
   */
  ancestorOutputs: Context | null;

  constructor(init: StageExecutionInit) {
    this.id = init.id ?? ulid();
    this.refId = init.refId;
    this.type = init.type ?? '';
    this.name = init.name ?? '';
    this.status = init.status ?? WorkflowStatus.NOT_STARTED;
    this.context = init.context ?? {};
    this.outputs = init.outputs ?? {};
    this.tasks = (init.tasks ?? []).map((t) => (t instanceof TaskExecution ? t : new TaskExecution(t)));
    this.requisiteStageRefIds = [...new Set(init.requisiteStageRefIds ?? [])];
    this.parentStageId = init.parentStageId ?? null;
    this.syntheticStageOwner = init.syntheticStageOwner ?? null;
    this.startTime = init.startTime ?? null;
    this.endTime = init.endTime ?? null;
    this.startTimeExpiry = init.startTimeExpiry ?? null;
    this.scheduledTime = init.scheduledTime ?? null;
    this.version = init.version ?? 0;
    this.joinType = init.joinType ?? JoinType.AND;
    this.joinThreshold = init.joinThreshold ?? 0;
    this.splitType = init.splitType ?? SplitType.AND;
    this.splitConditions = init.splitConditions ?? {};
    this.miConfig = init.miConfig ?? null;
    this.deferredChoiceGroup = init.deferredChoiceGroup ?? null;
    this.milestoneRefId = init.milestoneRefId ?? null;
    this.milestoneStatus = init.milestoneStatus ?? null;
    this.mutexKey = init.mutexKey ?? null;
    this.cancelRegion = init.cancelRegion ?? null;
    this.outputReducers = init.outputReducers ?? {};
    this.executionId = init.executionId ?? '';
    this.ancestorOutputs = init.ancestorOutputs ?? null;
  }

  static create(init: StageExecutionInit): StageExecution {
    return new StageExecution(init);
  }

  /** A stage owned by `parent` that runs before (STAGE_BEFORE) or after (STAGE_AFTER) its tasks. */
  static createSynthetic(init: Omit<StageExecutionInit, 'refId' | 'parentStageId' | 'syntheticStageOwner'> & {
    parent: StageExecution;
    owner: SyntheticStageOwner;
    refId?: string;
  }): StageExecution {
    const { parent, owner, ...rest } = init;
    return new StageExecution({
      ...rest,
      refId: init.refId ?? ulid(),
      parentStageId: parent.id,
      syntheticStageOwner: owner,
      executionId: parent.executionId,
    });
  }

  isInitial(): boolean {
    return this.requisiteStageRefIds.length === 0;
  }

  isJoin(): boolean {
    return this.requisiteStageRefIds.length > 1;
  }

  isSynthetic(): boolean {
    return this.parentStageId !== null;
  }

  firstTask(): TaskExecution | undefined {
    return this.tasks[0];
  }

  /** The task after `task`, or undefined when `task` is the last one (the stage then completes). */
  nextTask(task: TaskExecution): TaskExecution | undefined {
    const index = this.tasks.findIndex((t) => t.id === task.id);
    return index >= 0 ? this.tasks[index + 1] : undefined;
  }

  taskById(taskId: string): TaskExecution | undefined {
    return this.tasks.find((t) => t.id === taskId);
  }

  get continuePipelineOnFailure(): boolean {
    return Boolean(this.context.continuePipelineOnFailure);
  }

  /** `failPipeline` defaults to true. */
  shouldFailPipeline(): boolean {
    const value = this.context.failPipeline;
    return value === undefined || value === null ? true : Boolean(value);
  }

  get allowSiblingStagesToContinueOnFailure(): boolean {
    return Boolean(this.context.allowSiblingStagesToContinueOnFailure);
  }

  /** The status a failure of this stage maps to under its flags (engine.md §1.4). */
  failureStatus(defaultStatus: WorkflowStatus = WorkflowStatus.TERMINAL): WorkflowStatus {
    if (this.continuePipelineOnFailure) return WorkflowStatus.FAILED_CONTINUE;
    if (this.shouldFailPipeline()) return defaultStatus;
    return WorkflowStatus.STOPPED;
  }

  /**
   * Back to NOT_STARTED for a re-run: times, outputs and join bookkeeping cleared, context kept —
   * except what planning copied in from the ancestors' outputs, so the re-run sees their current
   * values (loops carry state this way; docs/decisions.md "Patterns").
   */
  resetForRetry(): void {
    this.dropAncestorContext();
    this.status = WorkflowStatus.NOT_STARTED;
    this.startTime = null;
    this.endTime = null;
    this.outputs = {};
    for (const key of [
      '_join_fired',
      '_completed_branches',
      '_activated_branches',
      '_on_failure_planned',
      // pattern bookkeeping (docs/patterns.md): firings, split choice, dead path, withdrawal
      '_fire_count',
      '_fire_final',
      '_fire_poke',
      '_unchosen_branches',
      '_dead_path',
      '_withdrawn',
    ])
      delete this.context[key];
    for (const task of this.tasks) task.reset();
  }

  /** Removes the context entries that are still exactly what planning took from `ancestorOutputs`. */
  dropAncestorContext(): void {
    for (const [key, value] of Object.entries(this.ancestorOutputs ?? {})) if (isDeepStrictEqual(this.context[key], value)) delete this.context[key];
  }

  clone(): StageExecution {
    return new StageExecution({
      ...this,
      context: structuredClone(this.context),
      outputs: structuredClone(this.outputs),
      tasks: this.tasks.map((t) => t.clone()),
      splitConditions: { ...this.splitConditions },
      outputReducers: { ...this.outputReducers },
      miConfig: this.miConfig ? { ...this.miConfig } : null,
      ancestorOutputs: this.ancestorOutputs ? structuredClone(this.ancestorOutputs) : null,
    });
  }
}

/**
 * The aggregated status of a stage from its before-stages, tasks and after-stages (engine.md §1.6).
 * `children` are the stage's synthetic stages.
 */
export function determineStageStatus(stage: StageExecution, children: readonly StageExecution[]): WorkflowStatus {
  const S = WorkflowStatus;
  const before = children.filter((c) => c.syntheticStageOwner === 'STAGE_BEFORE');
  const after = children.filter((c) => c.syntheticStageOwner === 'STAGE_AFTER');
  const core = [...before.map((c) => c.status), ...stage.tasks.map((t) => t.status)];
  const afterStatuses = after.map((c) => c.status);

  if (core.length === 0) {
    if (stage.status !== S.RUNNING) return S.NOT_STARTED;
    if (afterStatuses.some((s) => s === S.NOT_STARTED || s === S.RUNNING)) return S.RUNNING;
    if (afterStatuses.includes(S.TERMINAL)) return S.TERMINAL;
    if (afterStatuses.includes(S.STOPPED)) return S.STOPPED;
    if (afterStatuses.includes(S.CANCELED)) return S.CANCELED;
    return S.SUCCEEDED;
  }
  if (core.includes(S.TERMINAL)) return stage.failureStatus();
  if (core.includes(S.STOPPED)) return S.STOPPED;
  if (core.includes(S.CANCELED)) return S.CANCELED;
  if (core.includes(S.PAUSED)) return S.PAUSED;
  if (core.includes(S.BUFFERED)) return S.BUFFERED;
  if (core.includes(S.SUSPENDED)) return S.SUSPENDED;
  if (core.some((s) => s === S.NOT_STARTED || s === S.RUNNING)) return S.RUNNING;
  if (core.some((s) => s !== S.SUCCEEDED && s !== S.SKIPPED && s !== S.FAILED_CONTINUE)) return S.RUNNING;
  if (afterStatuses.length > 0) {
    if (afterStatuses.includes(S.TERMINAL)) return S.TERMINAL;
    if (afterStatuses.includes(S.STOPPED)) return S.STOPPED;
    if (afterStatuses.includes(S.CANCELED)) return S.CANCELED;
    if (afterStatuses.some((s) => s === S.NOT_STARTED || s === S.RUNNING || s === S.PAUSED || s === S.SUSPENDED)) return S.RUNNING;
  }
  return core.includes(S.FAILED_CONTINUE) ? S.FAILED_CONTINUE : S.SUCCEEDED;
}

/** Every upstream is in a continuable status. */
export function allContinuable(statuses: readonly WorkflowStatus[]): boolean {
  return statuses.every(isContinuable);
}

export function anyHalted(statuses: readonly WorkflowStatus[]): boolean {
  return statuses.some((s) => HALT_STATUSES.has(s));
}
