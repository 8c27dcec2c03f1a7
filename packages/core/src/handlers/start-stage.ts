import { StageGraphBuilder } from '../builders/stage-definition-builder.js';
import { ancestorRefIds } from '../dag/graph.js';
import { mergeAncestorOutputs, mergeContexts, mergeValue } from '../dag/merge.js';
import { evaluateReadiness } from '../dag/readiness.js';
import { getOutputReducer } from '../dag/reducers.js';
import { ConcurrencyError, errorMessage, isTransientError } from '../errors.js';
import { Messages, type StartStage } from '../messages/messages.js';
import type { Context, StageExecution } from '../model/stage-execution.js';
import { isActive, isComplete, WorkflowStatus } from '../model/status.js';
import type { Transaction } from '../store/transaction.js';
import { errorRecord, isStageDisabled, loadStageOrReport, newTx, recordStageEvent, retryOnConcurrency } from './common.js';
import type { HandlerDeps, HandlerInput } from './deps.js';
import { startTaskInTx } from './task-flow.js';

/**
 * The DAG gatekeeper and planner (engine.md §4.3): checks readiness, skips disabled stages,
 * then claims the stage and plans it (context merge, tasks, synthetic stages) in one transaction.
 */
export async function handleStartStage(deps: HandlerDeps, input: HandlerInput<StartStage>): Promise<void> {
  const stage = await loadStageOrReport(deps, input);
  if (!stage) return;
  const children = await deps.store.retrieveSyntheticStages(stage.id);
  // A RUNNING stage with nothing planned was claimed but never planned (hand-made state or an older
  // writer): plan it again. Any other started stage makes this delivery a late duplicate (Q10).
  const zombie = stage.status === WorkflowStatus.RUNNING && stage.tasks.length === 0 && children.length === 0;
  if (stage.status !== WorkflowStatus.NOT_STARTED && !zombie) return;

  const workflow = await deps.store.retrieveWorkflowOnly(stage.executionId);
  if (isComplete(workflow.status) || workflow.isCanceled) return;

  const jumpBypass = stage.context._jump_bypass === true;
  delete stage.context._jump_bypass;
  const upstreams = stage.requisiteStageRefIds.length > 0 ? await deps.store.retrieveStagesByRefIds(stage.executionId, stage.requisiteStageRefIds) : [];

  if (!zombie) {
    const readiness = evaluateReadiness(stage, upstreams, jumpBypass);
    if (readiness.phase === 'SKIP') {
      if (stage.parentStageId === null) await deps.store.commit(newTx(input).push(Messages.completeWorkflow(stage.executionId)));
      return;
    }
    if (readiness.phase === 'NOT_READY') {
      // An active upstream will send its own StartStage when it completes; otherwise re-check later.
      if (upstreams.some((u) => isActive(u.status))) return;
      await waitForUpstreams(deps, input, stage);
      return;
    }
    const now = deps.clock.now();
    if (isStageDisabled(stage, upstreams) || (stage.startTimeExpiry !== null && now > stage.startTimeExpiry)) {
      await deps.store.commit(newTx(input).push(Messages.skipStage(stage.executionId, stage.id)));
      return;
    }
  }

  const expectedStatus = stage.status;
  try {
    const tx = newTx(input);
    if (!zombie) stage.startTime = deps.clock.now();
    stage.status = WorkflowStatus.RUNNING;
    await planStage(deps, tx, stage, upstreams, children);
    tx.updateStage(stage, expectedStatus);
    recordStageEvent(deps, tx, 'StartStageHandler', 'stage.started', stage, {
      start_time: stage.startTime,
      is_synthetic: stage.parentStageId !== null,
      parent_stage_id: stage.parentStageId,
      task_count: stage.tasks.length,
    });
    await deps.store.commit(tx);
  } catch (error) {
    if (error instanceof ConcurrencyError) return; // another StartStage claimed it first
    if (isTransientError(error)) throw error;
    await failPlanning(deps, input, errorMessage(error));
  }
}

async function planStage(deps: HandlerDeps, tx: Transaction, stage: StageExecution, upstreams: StageExecution[], existingChildren: StageExecution[]): Promise<void> {
  const ancestors = await ancestorOutputs(deps, stage, upstreams);
  let context: Context = ancestors;
  const reducerKeys = new Set(Object.keys(stage.outputReducers));
  for (const [key, reducerName] of Object.entries(stage.outputReducers)) {
    const reducer = getOutputReducer(reducerName);
    const values = upstreams.filter((u) => Object.hasOwn(u.outputs, key)).map((u) => u.outputs[key]);
    context = { ...context, [key]: reducer(values) };
  }
  for (const [key, value] of Object.entries(stage.context)) {
    if (reducerKeys.has(key)) continue;
    context[key] = Object.hasOwn(context, key) ? mergeValue(context[key], value) : value;
  }
  stage.ancestorOutputs = ancestors;
  stage.context = context;

  const builder = deps.builders.get(stage.type);
  if (stage.tasks.length === 0 && builder.buildTasks) stage.tasks = builder.buildTasks(stage);
  stage.tasks.forEach((task, i) => {
    task.stageStart = i === 0;
    task.stageEnd = i === stage.tasks.length - 1; // Q19: the flag follows position
  });

  const children = [...existingChildren];
  // Q9: builder before-stages are planned once; a re-run resets the existing ones instead.
  if (builder.beforeStages && !children.some((c) => c.syntheticStageOwner === 'STAGE_BEFORE')) {
    const graph = StageGraphBuilder.beforeStages(stage);
    builder.beforeStages(stage, graph);
    for (const child of graph.build()) {
      tx.insertStage(child);
      children.push(child);
    }
  }
  builder.addContextFlags?.(stage);

  const initial = (owner: 'STAGE_BEFORE' | 'STAGE_AFTER') =>
    children.filter((c) => c.syntheticStageOwner === owner && c.requisiteStageRefIds.length === 0 && c.status === WorkflowStatus.NOT_STARTED && c.context._on_failure_stage !== true);
  const before = initial('STAGE_BEFORE');
  const first = stage.tasks[0];
  if (before.length > 0) {
    for (const c of before) tx.push(Messages.startStage(stage.executionId, c.id));
  } else if (first) {
    await startTaskInTx(deps, tx, stage, first, 'StartStageHandler'); // no StartTask round trip
  } else if (initial('STAGE_AFTER').length > 0) {
    for (const c of initial('STAGE_AFTER')) tx.push(Messages.startStage(stage.executionId, c.id));
  } else {
    tx.push(Messages.completeStage(stage.executionId, stage.id));
  }
}

/**
 * Merged outputs of every ancestor (engine.md §7.1). A stage with one requisite extends that
 * requisite's stored merge, so a long chain costs the same per stage as a short one; joins fold the
 * whole ancestor set in topological order (ties by declaration order).
 */
async function ancestorOutputs(deps: HandlerDeps, stage: StageExecution, upstreams: StageExecution[]): Promise<Context> {
  if (stage.requisiteStageRefIds.length === 0) return {};
  const only = upstreams.length === 1 && stage.requisiteStageRefIds.length === 1 ? upstreams[0] : undefined;
  if (only && only.ancestorOutputs !== null) return mergeContexts(only.ancestorOutputs, only.outputs);
  const nodes = await deps.store.retrieveStageSummaries(stage.executionId);
  const scope = nodes.filter((n) => n.parentStageId === stage.parentStageId);
  return mergeAncestorOutputs(scope, ancestorRefIds(scope, stage.refId));
}

async function waitForUpstreams(deps: HandlerDeps, input: HandlerInput<StartStage>, stage: StageExecution): Promise<void> {
  const retryCount = (input.message.retryCount ?? 0) + 1;
  if (retryCount <= deps.config.maxStageWaitRetries) {
    await deps.store.commit(newTx(input).push(Messages.startStage(stage.executionId, stage.id, retryCount), deps.config.retryDelayMs));
    return;
  }
  await retryOnConcurrency(deps, async () => {
    const fresh = await deps.store.retrieveStage(stage.id);
    if (fresh.status !== WorkflowStatus.NOT_STARTED) return;
    fresh.status = WorkflowStatus.TERMINAL;
    fresh.endTime = deps.clock.now();
    fresh.context.exception = errorRecord('Exceeded max retries waiting for upstream stages');
    await deps.store.commit(newTx(input).updateStage(fresh, WorkflowStatus.NOT_STARTED).push(Messages.completeStage(fresh.executionId, fresh.id)));
  });
}

/** Decision Q8: a planning failure fails the stage (failure status per its flags). */
async function failPlanning(deps: HandlerDeps, input: HandlerInput<StartStage>, message: string): Promise<void> {
  deps.logger.warn('Stage planning failed', { stageId: input.message.stageId, error: message });
  await retryOnConcurrency(deps, async () => {
    const fresh = await deps.store.retrieveStage(input.message.stageId);
    if (isComplete(fresh.status)) return;
    const expected = fresh.status;
    fresh.context.exception = errorRecord(message);
    fresh.context.beforeStagePlanningFailed = true;
    fresh.status = fresh.failureStatus();
    fresh.startTime ??= deps.clock.now();
    fresh.endTime = deps.clock.now();
    await deps.store.commit(newTx(input).updateStage(fresh, expected).push(Messages.completeStage(fresh.executionId, fresh.id)));
  });
}
