import { StageGraphBuilder } from '../builders/stage-definition-builder.js';
import { Messages, type CompleteStage } from '../messages/messages.js';
import { determineStageStatus, type StageExecution } from '../model/stage-execution.js';
import { isComplete, isHalt, WorkflowStatus } from '../model/status.js';
import type { Transaction } from '../store/transaction.js';
import { errorMessage } from '../errors.js';
import { errorRecord, loadStageOrReport, newTx, pushNext, recordStageEvent, retryOnConcurrency } from './common.js';
import type { Task } from '../task/task.js';
import type { HandlerDeps, HandlerInput } from './deps.js';
import type { FuseScope } from './fused.js';
import { closeCreation, evaluateMultiInstance, instancesOf, isMultiInstanceStage, type MultiInstanceOutcome } from './multi-instance.js';
import { afterFiring, afterStatusChange, notifyRefiringDownstream, terminateWorkflowInTx } from './patterns.js';

/** On-failure stages are marked so that they never pass for ordinary after-stages (decision Q20). */
export const ON_FAILURE_STAGE_KEY = '_on_failure_stage';

/** Synthetic children that count for the parent's status. */
export function countedChildren(stage: StageExecution, children: readonly StageExecution[]): StageExecution[] {
  return children.filter((c) => c.context[ON_FAILURE_STAGE_KEY] !== true || stage.context._on_failure_planned === true);
}

/**
 * Decides a stage's final status from its tasks and synthetic stages, runs after-stages and
 * on-failure stages, then moves the flow on (engine.md §4.7).
 */
export async function handleCompleteStage(deps: HandlerDeps, input: HandlerInput<CompleteStage>): Promise<void> {
  let finished: StageExecution | undefined;
  await retryOnConcurrency(deps, async () => {
    finished = undefined;
    const stage = await loadStageOrReport(deps, input);
    if (!stage || stage.status === WorkflowStatus.NOT_STARTED) return; // stale: a jump reset the stage
    if (stage.status !== WorkflowStatus.RUNNING) {
      // Already final. A halted stage re-announces its end so a lost propagation cannot hang the run.
      if (isHalt(stage.status)) {
        const tx = newTx(input);
        pushFailure(tx, stage);
        await deps.store.commit(tx);
      } else if (isMultiInstanceStage(stage) && stage.parentStageId === null && isComplete(stage.status)) {
        // An instance that outlived its activity's join ended: the workflow may be done now.
        await deps.store.commit(newTx(input).push(Messages.completeWorkflow(stage.executionId)));
      }
      return;
    }
    const children = await deps.store.retrieveSyntheticStages(stage.id);
    if (isMultiInstanceStage(stage)) {
      // The multiple-instance join (docs/patterns.md): decided over the instances, not by tasks.
      const outcome = evaluateMultiInstance(stage, instancesOf(children));
      if (outcome.kind === 'wait') return;
      const tx = newTx(input);
      await finishMultiInstance(deps, tx, stage, outcome);
      await deps.store.commit(tx);
      return;
    }
    const counted = countedChildren(stage, children);
    let status = determineStageStatus(stage, counted);
    const builder = deps.builders.get(stage.type);
    const tx = newTx(input);

    // After-stages: the core work is done and did not fail hard.
    const afterChildren = counted.filter((c) => c.syntheticStageOwner === 'STAGE_AFTER' && c.context[ON_FAILURE_STAGE_KEY] !== true);
    const coreDone = status === WorkflowStatus.SUCCEEDED || status === WorkflowStatus.SKIPPED || status === WorkflowStatus.FAILED_CONTINUE;
    const waitingForAfter =
      status === WorkflowStatus.RUNNING &&
      afterChildren.length > 0 &&
      determineStageStatus(stage, counted.filter((c) => c.syntheticStageOwner !== 'STAGE_AFTER')) !== WorkflowStatus.RUNNING &&
      afterChildren.filter((c) => c.requisiteStageRefIds.length === 0).every((c) => c.status === WorkflowStatus.NOT_STARTED);
    if (coreDone || waitingForAfter) {
      if (afterChildren.length === 0 && builder.afterStages) {
        const graph = StageGraphBuilder.afterStages(stage);
        builder.afterStages(stage, graph);
        for (const child of graph.build()) {
          tx.insertStage(child);
          afterChildren.push(child);
        }
      }
      const toStart = afterChildren.filter((c) => c.requisiteStageRefIds.length === 0 && c.status === WorkflowStatus.NOT_STARTED);
      if (toStart.length > 0) {
        for (const c of toStart) tx.push(Messages.startStage(stage.executionId, c.id));
        await deps.store.commit(tx);
        return;
      }
    } else if (status === WorkflowStatus.TERMINAL || status === WorkflowStatus.STOPPED) {
      const onFailure = children.filter((c) => c.context[ON_FAILURE_STAGE_KEY] === true);
      if (onFailure.some((c) => !isComplete(c.status) && c.status !== WorkflowStatus.NOT_STARTED)) return; // in flight
      if (stage.context._on_failure_planned !== true && builder.onFailureStages) {
        const graph = StageGraphBuilder.afterStages(stage);
        builder.onFailureStages(stage, graph);
        const planned = graph.build();
        if (planned.length > 0) {
          stage.context._on_failure_planned = true;
          for (const child of planned) {
            child.context[ON_FAILURE_STAGE_KEY] = true;
            tx.insertStage(child);
          }
          tx.updateStage(stage, WorkflowStatus.RUNNING);
          for (const c of planned.filter((c) => c.requisiteStageRefIds.length === 0)) tx.push(Messages.startStage(stage.executionId, c.id));
          await deps.store.commit(tx);
          return;
        }
      }
      if (stage.context._on_failure_planned === true) {
        // Rollback stages ran; the parent keeps its own failure status (they never rescue it).
        status = determineStageStatus(stage, children.filter((c) => c.context[ON_FAILURE_STAGE_KEY] !== true));
      }
    }
    if (status === WorkflowStatus.RUNNING || !isComplete(status)) return; // stale or redelivered

    if (status === WorkflowStatus.FAILED_CONTINUE && stage.context._blocking_failure === true) status = WorkflowStatus.TERMINAL; // Q7
    stage.status = status;
    stage.endTime = deps.clock.now();
    tx.updateStage(stage, WorkflowStatus.RUNNING);
    await finishStage(deps, tx, stage, 'CompleteStageHandler');
    await deps.store.commit(tx);
    finished = stage;
  });
  if (finished) await runCleanup(deps, finished);
}

/** Ends a multiple-instance activity with the outcome of its join (withdrawing what it no longer needs). */
export async function finishMultiInstance(deps: HandlerDeps, tx: Transaction, stage: StageExecution, outcome: Extract<MultiInstanceOutcome, { kind: 'complete' }>): Promise<void> {
  closeCreation(stage);
  stage.outputs = outcome.outputs;
  if (outcome.error) stage.context.exception = errorRecord(outcome.error);
  for (const instance of outcome.withdraw) tx.push(Messages.cancelStage(stage.executionId, instance.id, { withdraw: true, reason: 'multiInstanceJoin' }));
  stage.status = outcome.status;
  stage.endTime = deps.clock.now();
  tx.updateStage(stage, WorkflowStatus.RUNNING);
  await finishStage(deps, tx, stage, 'CompleteStageHandler');
}

/** Records the stage's end, then pushes what follows it (its event comes before the events of what follows). */
export async function finishStage(deps: HandlerDeps, tx: Transaction, stage: StageExecution, handler: string, fuse?: FuseScope): Promise<void> {
  const status = stage.status;
  const exception = (stage.context.exception as { details?: { error?: unknown } } | undefined)?.details?.error;
  const eventType =
    status === WorkflowStatus.SKIPPED ? 'stage.skipped' : status === WorkflowStatus.CANCELED || status === WorkflowStatus.SUCCEEDED ? 'stage.completed' : 'stage.failed';
  recordStageEvent(deps, tx, handler, eventType, stage, {
    status,
    end_time: stage.endTime,
    duration_ms: stage.startTime !== null && stage.endTime !== null ? stage.endTime - stage.startTime : null,
    ...(eventType === 'stage.failed' ? { error: typeof exception === 'string' ? exception : (stage.context.error ?? 'Unknown error') } : {}),
    ...(eventType === 'stage.completed' ? { outputs: stage.outputs } : {}),
  });
  if (status === WorkflowStatus.SUCCEEDED || status === WorkflowStatus.SKIPPED || status === WorkflowStatus.FAILED_CONTINUE) {
    if (status !== WorkflowStatus.SKIPPED && stage.context.terminateWorkflow === true) {
      // WCP-43: an explicit end node ends the workflow at once; unfinished stages are withdrawn.
      await terminateWorkflowInTx(deps, tx, stage.executionId, { stageId: stage.id, reason: `Terminated by stage ${stage.refId}`, handler });
    } else {
      await afterFiring(deps, tx, stage);
      // Q6: a FAILED_CONTINUE synthetic stage continues its chain like a success.
      await pushNext(deps, tx, stage, { completed: status !== WorkflowStatus.SKIPPED, ...(fuse ? { fuse } : {}) });
    }
  } else {
    if (status === WorkflowStatus.CANCELED || status === WorkflowStatus.TERMINAL || status === WorkflowStatus.STOPPED) {
      for (const task of stage.tasks) deps.runningTasks.abort(task.id, `Stage ${status}`);
    }
    if (typeof stage.context._fire_count === 'number') stage.context._fire_final = true;
    await notifyRefiringDownstream(deps, tx, stage);
    pushFailure(tx, stage);
  }
  afterStatusChange(tx, stage);
}

/** A halted stage ends its workflow (top level) or its parent (synthetic). */
function pushFailure(tx: Transaction, stage: StageExecution): void {
  if (stage.parentStageId !== null) tx.push(Messages.completeStage(stage.executionId, stage.parentStageId));
  else tx.push(Messages.completeWorkflow(stage.executionId));
}

/** `onCleanup` of every task implementation of the stage; failures are logged, never fatal. */
async function runCleanup(deps: HandlerDeps, stage: StageExecution): Promise<void> {
  for (const task of stage.tasks) {
    let implementation: Task;
    try {
      implementation = deps.registry.resolve(task.implementingClass);
    } catch {
      continue;
    }
    if (!implementation.onCleanup) continue;
    try {
      await implementation.onCleanup(stage);
    } catch (error) {
      deps.logger.warn('Task cleanup failed', { stageId: stage.id, taskId: task.id, error: errorMessage(error) });
    }
  }
}
