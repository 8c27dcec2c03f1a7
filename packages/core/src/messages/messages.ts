// Every message the engine exchanges (engine.md §3.2). Messages are plain JSON objects; the
// `type` field selects the handler and is the persisted name.
import type { Context, SyntheticStageOwner } from '../model/stage-execution.js';
import type { WorkflowStatus } from '../model/status.js';

export interface WorkflowLevel {
  executionId: string;
}
export interface StageLevel extends WorkflowLevel {
  stageId: string;
}
export interface TaskLevel extends StageLevel {
  taskId: string;
}

export interface StartWorkflow extends WorkflowLevel { type: 'StartWorkflow' }
export interface CompleteWorkflow extends WorkflowLevel { type: 'CompleteWorkflow' }
export interface CancelWorkflow extends WorkflowLevel { type: 'CancelWorkflow'; user: string; reason: string }
export interface StartWaitingWorkflows { type: 'StartWaitingWorkflows'; pipelineConfigId: string; purgeQueue: boolean; executionId?: string }
export interface StartStage extends StageLevel { type: 'StartStage'; retryCount?: number }
export interface CompleteStage extends StageLevel { type: 'CompleteStage' }
export interface SkipStage extends StageLevel { type: 'SkipStage' }
export interface CancelStage extends StageLevel {
  type: 'CancelStage';
  /**
   * Withdraw instead of cancel (deferred-choice losers, cancel region, cancelling joins, cancel-MI):
   * the stage ends CANCELED with `context._withdrawn`, which does not make the workflow CANCELED;
   * its downstream stages lose this input (dead-path elimination). Default false.
   */
  withdraw?: boolean;
  /** Why it was canceled / withdrawn (stored in `_withdrawn.reason`). */
  reason?: string;
}
export interface RestartStage extends StageLevel { type: 'RestartStage' }
export interface ResumeStage extends StageLevel { type: 'ResumeStage' }
export interface ContinueParentStage extends StageLevel { type: 'ContinueParentStage'; phase: SyntheticStageOwner; retryCount?: number }
export interface JumpToStage extends StageLevel {
  type: 'JumpToStage';
  targetStageRefId: string;
  jumpContext: Context;
  jumpOutputs: Context;
}
export interface SignalStage extends StageLevel {
  type: 'SignalStage';
  signalName: string;
  signalData: Context;
  persistent: boolean;
}
export interface CancelRegion extends WorkflowLevel { type: 'CancelRegion'; region: string }
export interface AddMultiInstance extends StageLevel {
  type: 'AddMultiInstance';
  instanceContext: Context;
  /** This is the last instance: instance creation closes (the stage completes when its join condition holds). */
  close?: boolean;
}
/** WCP-27: stop creating instances of a multi-instance stage and complete it. */
export interface CompleteMultiInstance extends StageLevel {
  type: 'CompleteMultiInstance';
  /** Default true: unfinished instances are withdrawn and the stage completes now; false: it completes when they finish. */
  withdrawRunning?: boolean;
}
/** WCP-43: ends the workflow at once with `status` (default SUCCEEDED); unfinished stages are withdrawn. */
export interface TerminateWorkflow extends WorkflowLevel {
  type: 'TerminateWorkflow';
  status?: WorkflowStatus;
  reason?: string;
  /** The stage that asked for it, if any. */
  stageId?: string;
}
export interface StartTask extends TaskLevel { type: 'StartTask' }
export interface RunTask extends TaskLevel {
  type: 'RunTask';
  taskType: string;
  /** Execution attempt of this task run, 1-based; bounds transient retries (decision Q5). */
  attempt?: number;
}
export interface CompleteTask extends TaskLevel {
  type: 'CompleteTask';
  status: WorkflowStatus;
  originalStatus?: WorkflowStatus | null;
}
export interface PauseTask extends TaskLevel { type: 'PauseTask' }
export interface InvalidWorkflowId extends WorkflowLevel { type: 'InvalidWorkflowId' }
export interface InvalidStageId extends StageLevel { type: 'InvalidStageId' }
export interface InvalidTaskId extends TaskLevel { type: 'InvalidTaskId' }
export interface InvalidTaskType extends TaskLevel { type: 'InvalidTaskType'; taskTypeName: string }

export type Message =
  | StartWorkflow
  | CompleteWorkflow
  | CancelWorkflow
  | StartWaitingWorkflows
  | StartStage
  | CompleteStage
  | SkipStage
  | CancelStage
  | RestartStage
  | ResumeStage
  | ContinueParentStage
  | JumpToStage
  | SignalStage
  | CancelRegion
  | AddMultiInstance
  | CompleteMultiInstance
  | TerminateWorkflow
  | StartTask
  | RunTask
  | CompleteTask
  | PauseTask
  | InvalidWorkflowId
  | InvalidStageId
  | InvalidTaskId
  | InvalidTaskType;

export type MessageType = Message['type'];
export type MessageOf<T extends MessageType> = Extract<Message, { type: T }>;

export const MESSAGE_TYPES: readonly MessageType[] = [
  'StartWorkflow',
  'CompleteWorkflow',
  'CancelWorkflow',
  'StartWaitingWorkflows',
  'StartStage',
  'CompleteStage',
  'SkipStage',
  'CancelStage',
  'RestartStage',
  'ResumeStage',
  'ContinueParentStage',
  'JumpToStage',
  'SignalStage',
  'CancelRegion',
  'AddMultiInstance',
  'CompleteMultiInstance',
  'TerminateWorkflow',
  'StartTask',
  'RunTask',
  'CompleteTask',
  'PauseTask',
  'InvalidWorkflowId',
  'InvalidStageId',
  'InvalidTaskId',
  'InvalidTaskType',
];

const KNOWN = new Set<string>(MESSAGE_TYPES);

export function isMessageType(type: unknown): type is MessageType {
  return typeof type === 'string' && KNOWN.has(type);
}

/** Short constructors so handlers read like the protocol. */
export const Messages = {
  startWorkflow: (executionId: string): StartWorkflow => ({ type: 'StartWorkflow', executionId }),
  completeWorkflow: (executionId: string): CompleteWorkflow => ({ type: 'CompleteWorkflow', executionId }),
  cancelWorkflow: (executionId: string, user: string, reason: string): CancelWorkflow => ({ type: 'CancelWorkflow', executionId, user, reason }),
  startStage: (executionId: string, stageId: string, retryCount?: number): StartStage =>
    retryCount ? { type: 'StartStage', executionId, stageId, retryCount } : { type: 'StartStage', executionId, stageId },
  completeStage: (executionId: string, stageId: string): CompleteStage => ({ type: 'CompleteStage', executionId, stageId }),
  skipStage: (executionId: string, stageId: string): SkipStage => ({ type: 'SkipStage', executionId, stageId }),
  cancelStage: (executionId: string, stageId: string, options: { withdraw?: boolean; reason?: string } = {}): CancelStage => ({
    type: 'CancelStage',
    executionId,
    stageId,
    ...(options.withdraw ? { withdraw: true } : {}),
    ...(options.reason ? { reason: options.reason } : {}),
  }),
  cancelRegion: (executionId: string, region: string): CancelRegion => ({ type: 'CancelRegion', executionId, region }),
  addMultiInstance: (executionId: string, stageId: string, instanceContext: Context = {}, options: { close?: boolean } = {}): AddMultiInstance => ({
    type: 'AddMultiInstance',
    executionId,
    stageId,
    instanceContext,
    ...(options.close ? { close: true } : {}),
  }),
  completeMultiInstance: (executionId: string, stageId: string, options: { withdrawRunning?: boolean } = {}): CompleteMultiInstance => ({
    type: 'CompleteMultiInstance',
    executionId,
    stageId,
    ...(options.withdrawRunning === false ? { withdrawRunning: false } : {}),
  }),
  terminateWorkflow: (executionId: string, options: { status?: WorkflowStatus; reason?: string; stageId?: string } = {}): TerminateWorkflow => ({
    type: 'TerminateWorkflow',
    executionId,
    ...options,
  }),
  restartStage: (executionId: string, stageId: string): RestartStage => ({ type: 'RestartStage', executionId, stageId }),
  resumeStage: (executionId: string, stageId: string): ResumeStage => ({ type: 'ResumeStage', executionId, stageId }),
  continueParentStage: (executionId: string, stageId: string, phase: SyntheticStageOwner, retryCount?: number): ContinueParentStage =>
    retryCount ? { type: 'ContinueParentStage', executionId, stageId, phase, retryCount } : { type: 'ContinueParentStage', executionId, stageId, phase },
  startTask: (executionId: string, stageId: string, taskId: string): StartTask => ({ type: 'StartTask', executionId, stageId, taskId }),
  runTask: (executionId: string, stageId: string, taskId: string, taskType: string, attempt = 1): RunTask =>
    attempt > 1 ? { type: 'RunTask', executionId, stageId, taskId, taskType, attempt } : { type: 'RunTask', executionId, stageId, taskId, taskType },
  completeTask: (executionId: string, stageId: string, taskId: string, status: WorkflowStatus, originalStatus?: WorkflowStatus): CompleteTask =>
    originalStatus ? { type: 'CompleteTask', executionId, stageId, taskId, status, originalStatus } : { type: 'CompleteTask', executionId, stageId, taskId, status },
  pauseTask: (executionId: string, stageId: string, taskId: string): PauseTask => ({ type: 'PauseTask', executionId, stageId, taskId }),
  signalStage: (executionId: string, stageId: string, signalName: string, signalData: Context = {}, persistent = false): SignalStage => ({
    type: 'SignalStage',
    executionId,
    stageId,
    signalName,
    signalData,
    persistent,
  }),
} as const;

/** The workflow a message belongs to, if any (used to keep one workflow's messages in order). */
export function messageExecutionId(message: Message): string | undefined {
  return (message as { executionId?: string }).executionId || undefined;
}
