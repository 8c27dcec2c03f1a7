import { ConcurrencyError, StageNotFoundError, WorkflowNotFoundError, truncateErrorText } from '../errors.js';
import { Messages } from '../messages/messages.js';
import type { StageExecution } from '../model/stage-execution.js';
import { isComplete, WorkflowStatus } from '../model/status.js';
import type { Workflow } from '../model/workflow.js';
import { Transaction } from '../store/transaction.js';
import { evaluateCondition } from '../expressions/index.js';
import { type HandlerDeps, type HandlerInput, recordEvent } from './deps.js';
import { completeTaskInTx } from './task-flow.js';

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
 * stages), else the workflow's completion check. Split conditions choose among downstreams.
 */
export async function pushNext(deps: HandlerDeps, tx: Transaction, stage: StageExecution): Promise<void> {
  const downstream = await deps.store.retrieveDownstreamStages(stage.executionId, stage.refId);
  if (downstream.length > 0) {
    const { activated, skipped } = chooseBranches(stage, downstream);
    // A join is started by whichever upstream finishes last; its StartStage waits in the queue
    // rather than on this worker's fast path, so early copies find the join already decided.
    for (const d of activated) tx.push(Messages.startStage(stage.executionId, d.id), 0, { claimable: d.requisiteStageRefIds.length <= 1 });
    for (const d of skipped) tx.push(Messages.skipStage(stage.executionId, d.id));
    return;
  }
  if (stage.parentStageId !== null && stage.syntheticStageOwner !== null) {
    tx.push(Messages.continueParentStage(stage.executionId, stage.parentStageId, stage.syntheticStageOwner));
    return;
  }
  tx.push(Messages.completeWorkflow(stage.executionId));
}

/** OR / XOR splits (engine.md §2.4): which downstreams start and which are skipped. */
export function chooseBranches(stage: StageExecution, downstream: StageExecution[]): { activated: StageExecution[]; skipped: StageExecution[] } {
  const conditions = stage.splitConditions;
  if (stage.splitType === 'AND' || Object.keys(conditions).length === 0) return { activated: downstream, skipped: [] };
  const scope = { ...stage.context, ...stage.outputs };
  const activated: StageExecution[] = [];
  const skipped: StageExecution[] = [];
  for (const d of downstream) {
    const condition = conditions[d.refId];
    let chosen = condition === undefined;
    if (condition !== undefined) {
      try {
        chosen = evaluateCondition(condition, scope);
      } catch {
        chosen = false;
      }
    }
    if (chosen && !(stage.splitType === 'XOR' && activated.length > 0)) activated.push(d);
    else skipped.push(d);
  }
  if (activated.length === 0 && skipped.length > 0) activated.push(skipped.shift()!);
  return { activated, skipped };
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
