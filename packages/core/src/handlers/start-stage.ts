import { StageGraphBuilder } from '../builders/stage-definition-builder.js';
import { ancestorRefIds } from '../dag/graph.js';
import { mergeAncestorOutputs, mergeContexts, mergeValue } from '../dag/merge.js';
import { CANCELLING_JOINS, DISCRIMINATOR_JOINS, evaluateReadiness, isRefiringJoin, mayFireAgain } from '../dag/readiness.js';
import { getOutputReducer } from '../dag/reducers.js';
import { ClaimBlockedError, ConcurrencyError, errorMessage, isTransientError } from '../errors.js';
import { Messages, type StartStage } from '../messages/messages.js';
import type { Context, StageExecution } from '../model/stage-execution.js';
import { isComplete, isHalt, WorkflowStatus } from '../model/status.js';
import { Transaction } from '../store/transaction.js';
import { errorRecord, isStageDisabled, loadStageOrReport, newTx, pushNext, recordStageStarted, retryOnConcurrency } from './common.js';
import { finishStage } from './complete-stage.js';
import type { HandlerDeps, HandlerInput } from './deps.js';
import { isMultiInstanceStage, planMultiInstance } from './multi-instance.js';
import {
  choiceClaimKey,
  exclusiveFeeders,
  MUTEX_SCOPE,
  milestoneDecision,
  mutexClaimKey,
  notifyMilestoneWatchers,
  watchMilestone,
  withdrawStages,
} from './patterns.js';
import { startTaskInTx } from './task-flow.js';

/**
 * The DAG gatekeeper and planner (engine.md §4.3): checks readiness, skips disabled stages,
 * then claims the stage and plans it (context merge, tasks, synthetic stages) in one transaction.
 * Control-flow patterns (docs/patterns.md) hook in here: dead-path elimination, milestones, mutex
 * and deferred-choice claims, join bookkeeping and the re-firing joins.
 */
export async function handleStartStage(deps: HandlerDeps, input: HandlerInput<StartStage>): Promise<void> {
  const stage = await loadStageOrReport(deps, input);
  if (!stage) return;
  // Not started, or a re-firing join between firings: it holds no mutex and may have been woken for one.
  const wasWaiting = stage.status === WorkflowStatus.NOT_STARTED || (isComplete(stage.status) && mayFireAgain(stage));
  const outcome = await startStage(deps, input, stage);
  // Mutex turns (docs/patterns.md): a release wakes one waiter. A delivery for a stage that could have
  // been that waiter and that ends neither with the claim nor back in line passes the turn on, so a
  // waiter that no longer wants the mutex never strands the ones behind it.
  // The release names no owner (`stageId: ''`), so it never frees a claim a concurrent delivery of
  // this stage has just taken; it only wakes the next waiter when nobody holds the mutex.
  if (stage.mutexKey && wasWaiting && outcome === 'other') {
    await deps.store.commit(new Transaction().releaseClaim({ executionId: MUTEX_SCOPE, claimKey: mutexClaimKey(stage.mutexKey), stageId: '' }));
  }
}

type StartOutcome = 'claimed' | 'waiting' | 'other';

async function startStage(deps: HandlerDeps, input: HandlerInput<StartStage>, stage: StageExecution): Promise<StartOutcome> {
  const children = await deps.store.retrieveSyntheticStages(stage.id);
  // A RUNNING stage with nothing planned was claimed but never planned (hand-made state or an older
  // writer): plan it again. Any other started stage makes this delivery a late duplicate (Q10),
  // except for a re-firing join, which a new thread can make fire again.
  const zombie = stage.status === WorkflowStatus.RUNNING && stage.tasks.length === 0 && children.length === 0 && !isMultiInstanceStage(stage);
  const refiring = !zombie && stage.status !== WorkflowStatus.NOT_STARTED && isRefiringJoin(stage.joinType) && typeof stage.context._fire_count === 'number';
  if (stage.status !== WorkflowStatus.NOT_STARTED && !zombie && !refiring) {
    // A late StartStage for a top-level stage that has ended: whoever sent it saw the stage still
    // unfinished, so it announced no workflow end. Its view may be older than the stage's end (two
    // branches finishing at once each see the other unfinished), so the end is checked now, when
    // both are committed. CompleteWorkflow does nothing while work remains.
    if (stage.parentStageId === null && isComplete(stage.status) && !mayFireAgain(stage)) {
      await deps.store.commit(newTx(input).push(Messages.completeWorkflow(stage.executionId)));
    }
    return 'other';
  }

  const workflow = await deps.store.retrieveWorkflowOnly(stage.executionId);
  if (isComplete(workflow.status) || workflow.isCanceled) return 'other';
  if (refiring) return handleRefiring(deps, input);

  const jumpBypass = stage.context._jump_bypass === true;
  delete stage.context._jump_bypass;
  const upstreams = await loadUpstreams(deps, stage);

  if (!zombie) {
    const readiness = evaluateReadiness(stage, upstreams, jumpBypass);
    if (readiness.phase === 'SKIP') {
      if (stage.parentStageId === null) await deps.store.commit(newTx(input).push(Messages.completeWorkflow(stage.executionId)));
      return 'other';
    }
    if (readiness.phase === 'DEAD') {
      await skipDeadPath(deps, input, stage);
      return 'other';
    }
    // NOT_READY: every pending upstream sends its own StartStage when it moves on (completes, is
    // skipped or withdrawn, fires again or becomes final), so nothing re-checks on a timer.
    if (readiness.phase === 'NOT_READY') return 'other';
    const now = deps.clock.now();
    if (isStageDisabled(stage, upstreams) || (stage.startTimeExpiry !== null && now > stage.startTimeExpiry)) {
      await deps.store.commit(newTx(input).push(Messages.skipStage(stage.executionId, stage.id)));
      return 'other';
    }
    const milestone = await milestoneDecision(deps, stage);
    if (milestone.decision === 'skip') {
      await deps.store.commit(newTx(input).push(Messages.skipStage(stage.executionId, stage.id)));
      return 'other';
    }
    if (milestone.decision === 'wait') {
      await waitForMilestone(deps, input, stage);
      return 'other';
    }
  }
  return claimAndPlan(deps, input, stage, upstreams, children, zombie);
}

async function loadUpstreams(deps: HandlerDeps, stage: StageExecution): Promise<StageExecution[]> {
  return stage.requisiteStageRefIds.length > 0 ? deps.store.retrieveStagesByRefIds(stage.executionId, stage.requisiteStageRefIds) : [];
}

/** Claims the stage (mutex, deferred choice, compare-and-set on its status) and plans it, in one transaction. */
async function claimAndPlan(deps: HandlerDeps, input: HandlerInput<StartStage>, stage: StageExecution, upstreams: StageExecution[], children: StageExecution[], zombie: boolean): Promise<StartOutcome> {
  const expectedStatus = stage.status;
  try {
    const tx = newTx(input);
    if (!zombie) stage.startTime = deps.clock.now();
    stage.status = WorkflowStatus.RUNNING;
    stage.endTime = null;
    await claimPatterns(deps, tx, stage);
    const firstPlanningEvent = tx.events.length;
    await planStage(deps, tx, stage, upstreams, children);
    tx.updateStage(stage, expectedStatus);
    recordStageStarted(deps, tx, 'StartStageHandler', stage, firstPlanningEvent);
    await deps.store.commit(tx);
    return 'claimed';
  } catch (error) {
    if (error instanceof ClaimBlockedError) return claimBlocked(deps, input, stage, error);
    if (error instanceof ConcurrencyError) return 'other'; // another StartStage claimed it first
    if (isTransientError(error)) throw error;
    await failPlanning(deps, input, errorMessage(error));
    return 'other';
  }
}

/**
 * What a claim adds to the claim transaction: the mutex (store-wide) and the deferred choice (the
 * winner withdraws the other members and what only feeds them), join bookkeeping, the withdrawal of
 * the other branches by a cancelling join, and the milestone watchers of this stage.
 */
export async function claimPatterns(deps: HandlerDeps, tx: Transaction, stage: StageExecution): Promise<void> {
  if (stage.mutexKey) tx.acquireClaim({ executionId: MUTEX_SCOPE, claimKey: mutexClaimKey(stage.mutexKey), stageId: stage.id, stealIfOwnerComplete: true });
  const group = stage.deferredChoiceGroup;
  if (group) {
    tx.acquireClaim({ executionId: stage.executionId, claimKey: choiceClaimKey(group), stageId: stage.id, stealIfOwnerComplete: false });
    const scope = (await deps.store.retrieve(stage.executionId)).stages.filter((s) => s.parentStageId === stage.parentStageId);
    const losers = new Set(scope.filter((s) => s.deferredChoiceGroup === group && s.id !== stage.id).map((s) => s.refId));
    const withdrawn = new Set([...losers, ...exclusiveFeeders(scope, losers, stage.parentStageId)]);
    withdrawn.delete(stage.refId);
    withdrawStages(tx, stage.executionId, scope, withdrawn, `deferredChoice:${group}`);
  }
  if (DISCRIMINATOR_JOINS.has(stage.joinType) && stage.requisiteStageRefIds.length > 0) stage.context._join_fired = true;
  if (isRefiringJoin(stage.joinType)) {
    stage.context._fire_count = (typeof stage.context._fire_count === 'number' ? stage.context._fire_count : 0) + 1;
    stage.context._fire_final = false;
  }
  if (CANCELLING_JOINS.has(stage.joinType)) {
    const scope = (await deps.store.retrieveStageSummaries(stage.executionId)).filter((s) => s.parentStageId === stage.parentStageId);
    withdrawStages(tx, stage.executionId, scope, exclusiveFeeders(scope, new Set([stage.refId]), stage.parentStageId), `cancellingJoin:${stage.refId}`);
  }
  notifyMilestoneWatchers(tx, stage);
}

/** A mutex held elsewhere: wait for its release (woken by a message, never a timer). A lost deferred choice: withdraw. */
async function claimBlocked(deps: HandlerDeps, input: HandlerInput<StartStage>, stage: StageExecution, error: ClaimBlockedError): Promise<StartOutcome> {
  const { executionId, id } = stage;
  if (error.claimKey.startsWith('mutex:')) {
    await deps.store.commit(newTx(input).waitForClaim({ executionId: MUTEX_SCOPE, claimKey: error.claimKey, stageId: id, message: Messages.startStage(executionId, id) }));
    return 'waiting';
  }
  await deps.store.commit(newTx(input).push(Messages.cancelStage(executionId, id, { withdraw: true, reason: `deferredChoice:${stage.deferredChoiceGroup}` })));
  return 'other';
}

/** No thread of control can reach the stage: skip it as a dead path and pass the death on (DPE). */
async function skipDeadPath(deps: HandlerDeps, input: HandlerInput<StartStage>, stage: StageExecution): Promise<void> {
  stage.status = WorkflowStatus.SKIPPED;
  stage.endTime = deps.clock.now();
  stage.context._dead_path = true;
  const tx = newTx(input).updateStage(stage, WorkflowStatus.NOT_STARTED);
  await finishStage(deps, tx, stage, 'StartStageHandler');
  try {
    await deps.store.commit(tx);
  } catch (error) {
    if (!(error instanceof ConcurrencyError)) throw error; // another delivery decided it
  }
}

/** WCP-18: wait for the milestone, registered on the milestone stage itself so its next status change wakes us. */
async function waitForMilestone(deps: HandlerDeps, input: HandlerInput<StartStage>, stage: StageExecution): Promise<void> {
  await retryOnConcurrency(deps, async () => {
    const decision = await milestoneDecision(deps, stage);
    const tx = newTx(input);
    if (decision.decision === 'wait') watchMilestone(tx, decision.milestone, stage);
    else tx.push(Messages.startStage(stage.executionId, stage.id)); // it moved meanwhile: look again
    await deps.store.commit(tx);
  });
}

/**
 * A new thread for a re-firing join that has fired before (MULTI_MERGE, GENERALISED_AND, THREAD_MERGE,
 * blocking joins). While a firing is in progress the delivery bumps the stage's version, so the
 * firing's completion re-reads the upstreams and no thread is lost; once complete, it fires again,
 * or records that it never will (`_fire_final`) and tells its downstream.
 */
async function handleRefiring(deps: HandlerDeps, input: HandlerInput<StartStage>): Promise<StartOutcome> {
  let rearm: { stage: StageExecution; upstreams: StageExecution[]; children: StageExecution[] } | undefined;
  await retryOnConcurrency(deps, async () => {
    rearm = undefined;
    const stage = await deps.store.retrieveStage(input.message.stageId);
    if (typeof stage.context._fire_count !== 'number' || stage.context._fire_final === true || isHalt(stage.status) || stage.status === WorkflowStatus.SKIPPED) return;
    if (!isComplete(stage.status)) {
      stage.context._fire_poke = (typeof stage.context._fire_poke === 'number' ? stage.context._fire_poke : 0) + 1;
      await deps.store.commit(newTx(input).updateStage(stage, stage.status));
      return;
    }
    const upstreams = await loadUpstreams(deps, stage);
    const readiness = evaluateReadiness(stage, upstreams);
    if (readiness.phase === 'READY') {
      rearm = { stage, upstreams, children: await deps.store.retrieveSyntheticStages(stage.id) };
      return;
    }
    if (!readiness.final) return;
    stage.context._fire_final = true;
    const tx = newTx(input).updateStage(stage, stage.status);
    await pushNext(deps, tx, stage);
    await deps.store.commit(tx);
  });
  if (!rearm) return 'other';
  const { stage, upstreams, children } = rearm;
  // The next firing is planned afresh: context that came from the ancestors is re-read from them.
  stage.dropAncestorContext();
  for (const task of stage.tasks) task.reset();
  return claimAndPlan(deps, input, stage, upstreams, children, false);
}

export async function planStage(deps: HandlerDeps, tx: Transaction, stage: StageExecution, upstreams: StageExecution[], existingChildren: StageExecution[]): Promise<void> {
  const ancestors = await ancestorOutputs(deps, stage, upstreams);
  let context: Context = { ...ancestors }; // a copy: `ancestorOutputs` must not take the stage's own context
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
  if (isMultiInstanceStage(stage)) {
    planMultiInstance(tx, stage, existingChildren); // its instances are its work (docs/patterns.md)
    return;
  }

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
