import { ConcurrencyError, StageNotFoundError, WorkflowNotFoundError, truncateErrorText } from '../errors.js';
import { Messages } from '../messages/messages.js';
import type { StageExecution } from '../model/stage-execution.js';
import { isComplete, WorkflowStatus } from '../model/status.js';
import type { Workflow } from '../model/workflow.js';
import { Transaction } from '../store/transaction.js';
import { evaluateCondition } from '../expressions/index.js';
import { DISCRIMINATOR_JOINS, isRefiringJoin, mayFireAgain } from '../dag/readiness.js';
import { type HandlerDeps, type HandlerInput, recordEvent } from './deps.js';
import { isInstance } from './multi-instance.js';
import { recordCompletedBranch, recordSplitChoice } from './patterns.js';
import { completeTaskInTx } from './task-flow.js';
import { completeWorkflowInTx, type FuseScope, MAX_FUSED_STARTS, mayStartInTx, startSuccessorInTx, withoutSyntheticStages } from './fused.js';

/** A new transaction that, once committed, also removes the delivery being handled. */
export function newTx(input: HandlerInput<unknown>): Transaction {
  const tx = new Transaction();
  if (input.delivery) tx.consume({ deliveryId: input.delivery.id, leaseToken: input.delivery.leaseToken });
  return tx;
}

/**
 * Runs `body` again from fresh reads when it hits an optimistic-lock conflict (engine.md §4.0),
 * up to `concurrencyMaxRetries` times, then lets the ConcurrencyError reach the processor.
 */
export async function retryOnConcurrency<T>(deps: HandlerDeps, body: () => Promise<T>): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await body();
    } catch (error) {
      if (!(error instanceof ConcurrencyError) || attempt >= deps.config.concurrencyMaxRetries) throw error;
      await new Promise((r) => setTimeout(r, Math.random() * 5 * (attempt + 1)));
    }
  }
}

/** Loads a stage; when it is gone, ends the message with an InvalidStageId marker and returns null. */
export async function loadStageOrReport(deps: HandlerDeps, input: HandlerInput<{ executionId: string; stageId: string }>): Promise<StageExecution | null> {
  try {
    return await deps.store.retrieveStage(input.message.stageId);
  } catch (error) {
    if (!(error instanceof StageNotFoundError)) throw error;
    deps.logger.warn('Stage not found', { stageId: input.message.stageId, executionId: input.message.executionId });
    await deps.store.commit(newTx(input).push({ type: 'InvalidStageId', executionId: input.message.executionId, stageId: input.message.stageId }));
    return null;
  }
}

export async function loadWorkflowOrReport(deps: HandlerDeps, input: HandlerInput<{ executionId: string }>): Promise<Workflow | null> {
  try {
    return await deps.store.retrieveWorkflowOnly(input.message.executionId);
  } catch (error) {
    if (!(error instanceof WorkflowNotFoundError)) throw error;
    deps.logger.warn('Workflow not found', { executionId: input.message.executionId });
    await deps.store.commit(newTx(input).push({ type: 'InvalidWorkflowId', executionId: input.message.executionId }));
    return null;
  }
}

/**
 * What follows a finished (or skipped) stage: its downstream stages, else its parent (synthetic
 * stages), else the workflow's completion check. Split conditions choose among downstreams: an
 * unchosen downstream is told too, and sees the dead edge through the split's `_unchosen_branches`
 * (dead-path elimination, docs/patterns.md). `completed` marks a stage that ran (CompleteStage).
 */
export async function pushNext(deps: HandlerDeps, tx: Transaction, stage: StageExecution, options: { completed?: boolean; fuse?: FuseScope } = {}): Promise<void> {
  const downstream = await (options.fuse ? options.fuse.reads.downstreamStages(stage) : deps.store.retrieveDownstreamStages(stage.executionId, stage.refId));
  if (downstream.length > 0) {
    // Only a stage that ran applies its split; a skipped or withdrawn one passes every edge on and
    // each downstream judges its inputs itself.
    const ran = stage.status === WorkflowStatus.SUCCEEDED || stage.status === WorkflowStatus.FAILED_CONTINUE;
    if (ran && isConditionalSplit(stage)) await recordSplitChoice(deps, tx, stage, chooseBranches(stage, downstream).skipped);
    if (options.completed) recordCompletedBranch(tx, stage, downstream, (d) => DISCRIMINATOR_JOINS.has(d.joinType));
    // Then a few plain successors start inside this commit instead of through StartStage (fused.ts).
    const fuse = options.fuse;
    const inPlace = fuse
      ? await withoutSyntheticStages(fuse.reads, downstream.filter((d) => mayStartInTx(deps, d, stage, fuse)).slice(0, MAX_FUSED_STARTS))
      : new Set<string>();
    // A join is started by whichever upstream finishes last; its StartStage waits in the queue
    // rather than on this worker's fast path, so early copies find the join already decided.
    for (const d of downstream) {
      const join = d.requisiteStageRefIds.length > 1 || isRefiringJoin(d.joinType);
      // Copies of a join's StartStage coalesce while one waits undelivered (not for joins that fire
      // once per incoming branch).
      const coalesce = d.requisiteStageRefIds.length > 1 && !isRefiringJoin(d.joinType);
      if (inPlace.has(d.id) && (await startSuccessorInTx(deps, tx, d, stage))) continue;
      tx.push(Messages.startStage(stage.executionId, d.id), 0, join ? { claimable: false, ...(coalesce ? { coalesceKey: `StartStage:${d.id}` } : {}) } : {});
    }
    // A late branch of a join that has already fired starts nothing: it may have been the last work.
    if (stage.parentStageId === null && downstream.every((d) => isComplete(d.status) && !mayFireAgain(d))) tx.push(Messages.completeWorkflow(stage.executionId));
    return;
  }
  if (isInstance(stage)) {
    tx.push(Messages.completeStage(stage.executionId, stage.parentStageId!)); // the multi-instance join decides
    return;
  }
  if (stage.parentStageId !== null && stage.syntheticStageOwner !== null) {
    tx.push(Messages.continueParentStage(stage.executionId, stage.parentStageId, stage.syntheticStageOwner));
    return;
  }
  if (options.fuse && stage.parentStageId === null && (await completeWorkflowInTx(deps, tx, options.fuse))) return;
  tx.push(Messages.completeWorkflow(stage.executionId));
}

/** An OR / XOR split with conditions (an AND split, or one without conditions, takes every branch). */
export function isConditionalSplit(stage: StageExecution): boolean {
  return stage.splitType !== 'AND' && Object.keys(stage.splitConditions).length > 0;
}

/**
 * OR / XOR splits (engine.md §2.4, docs/patterns.md): which downstreams are chosen. OR: every branch
 * whose condition holds, plus every branch without a condition. XOR: the first branch (declaration
 * order) whose condition holds, else the first branch without a condition (the default branch). A
 * condition that cannot be evaluated counts as false. If nothing is chosen the first downstream is.
 */
export function chooseBranches(stage: StageExecution, downstream: StageExecution[]): { activated: StageExecution[]; skipped: StageExecution[] } {
  const conditions = stage.splitConditions;
  if (!isConditionalSplit(stage)) return { activated: downstream, skipped: [] };
  const scope = { ...stage.context, ...stage.outputs };
  const holds = (d: StageExecution): boolean | undefined => {
    const condition = conditions[d.refId];
    if (condition === undefined) return undefined;
    try {
      return evaluateCondition(condition, scope);
    } catch {
      return false;
    }
  };
  const verdicts = downstream.map((d) => ({ d, verdict: holds(d) }));
  let chosen: StageExecution[];
  if (stage.splitType === 'XOR') {
    const pick = verdicts.find((v) => v.verdict === true) ?? verdicts.find((v) => v.verdict === undefined);
    chosen = pick ? [pick.d] : [];
  } else {
    chosen = verdicts.filter((v) => v.verdict !== false).map((v) => v.d);
  }
  if (chosen.length === 0) chosen = downstream.slice(0, 1);
  return { activated: chosen, skipped: downstream.filter((d) => !chosen.includes(d)) };
}

/** Error record stored in `context.exception` (engine.md §4.5.7). */
export function errorRecord(message: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { details: { error: truncateErrorText(message), ...extra } };
}

/**
 * Fails the task of a RUNNING stage with an error record: the task gets the stage's failure
 * status and a CompleteTask continues the flow (engine.md §4.5.1 complete_with_error).
 */
export async function completeTaskWithError(
  deps: HandlerDeps,
  input: HandlerInput<{ executionId: string; stageId: string; taskId: string }>,
  error: string,
  extra: Record<string, unknown> = {},
  status?: WorkflowStatus,
): Promise<void> {
  await retryOnConcurrency(deps, async () => {
    const stage = await deps.store.retrieveStage(input.message.stageId);
    const task = stage.taskById(input.message.taskId);
    if (!task || task.status !== WorkflowStatus.RUNNING) return;
    stage.context.exception = errorRecord(error, extra);
    task.taskExceptionDetails = stage.context.exception as Record<string, unknown>; // Q17: persisted on the task too
    const tx = newTx(input).updateStage(stage, WorkflowStatus.RUNNING);
    await completeTaskInTx(deps, tx, stage, task, status ?? WorkflowStatus.TERMINAL, 'RunTaskHandler');
    await deps.store.commit(tx);
  });
}

export function stageEventData(stage: StageExecution): Record<string, unknown> {
  return { ref_id: stage.refId, type: stage.type, name: stage.name };
}

/**
 * Records `stage.started` for a stage planned in this transaction, placed before the events its
 * planning recorded (`task.started`), which were recorded from index `firstPlanningEvent` on.
 */
export function recordStageStarted(deps: HandlerDeps, tx: Transaction, handler: string, stage: StageExecution, firstPlanningEvent: number): void {
  recordStageEvent(deps, tx, handler, 'stage.started', stage, {
    start_time: stage.startTime,
    is_synthetic: stage.parentStageId !== null,
    parent_stage_id: stage.parentStageId,
    task_count: stage.tasks.length,
  });
  if (tx.events.length > firstPlanningEvent + 1) tx.events.splice(firstPlanningEvent, 0, tx.events.pop()!);
}

export function recordStageEvent(deps: HandlerDeps, tx: Transaction, handler: string, eventType: string, stage: StageExecution, data: Record<string, unknown>): void {
  recordEvent(deps, tx, {
    eventType,
    entityType: 'stage',
    entityId: stage.id,
    workflowId: stage.executionId,
    version: stage.version + 1,
    data: { ...stageEventData(stage), ...data },
    sourceHandler: handler,
  });
}

/** `stageEnabled`: false, or an expression evaluated against the stage context and upstream outputs. */
export function isStageDisabled(stage: StageExecution, upstreams: readonly StageExecution[]): boolean {
  const enabled = stage.context.stageEnabled;
  if (enabled === false) return true;
  if (enabled && typeof enabled === 'object' && (enabled as { type?: unknown }).type === 'expression') {
    const expression = (enabled as { expression?: unknown }).expression;
    if (typeof expression !== 'string') return false;
    const scope: Record<string, unknown> = { ...stage.context };
    for (const u of upstreams) if (Object.keys(u.outputs).length > 0 && !Object.hasOwn(scope, u.refId)) scope[u.refId] = u.outputs;
    try {
      return !evaluateCondition(expression, scope);
    } catch {
      return false; // an expression that cannot be evaluated does not skip the stage (upstream rule)
    }
  }
  return false;
}

export { isComplete };
