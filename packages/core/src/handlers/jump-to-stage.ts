import { Messages, type JumpToStage } from '../messages/messages.js';
import type { StageExecution } from '../model/stage-execution.js';
import { WorkflowStatus } from '../model/status.js';
import { newTx, retryOnConcurrency } from './common.js';
import { finishStage, ON_FAILURE_STAGE_KEY } from './complete-stage.js';
import type { HandlerDeps, HandlerInput } from './deps.js';

/**
 * Dynamic routing (engine.md §8): resets the target and every started stage downstream of it, skips
 * what a forward jump passes over, and starts the target, all in one transaction.
 */
export async function handleJumpToStage(deps: HandlerDeps, input: HandlerInput<JumpToStage>): Promise<void> {
  await retryOnConcurrency(deps, async () => {
    const { message } = input;
    const workflow = await deps.store.retrieve(message.executionId);
    const source = workflow.stages.find((s) => s.id === message.stageId);
    if (!source || source.status !== WorkflowStatus.RUNNING) return;
    const scope = workflow.stages.filter((s) => s.parentStageId === source.parentStageId);
    const target = scope.find((s) => s.refId === message.targetStageRefId);
    const originals = new Map(workflow.stages.map((s) => [s.id, s.status]));
    const tx = newTx(input);
    const write = (stage: StageExecution) => tx.updateStage(stage, originals.get(stage.id));

    const refuse = async (reason: string) => {
      const now = deps.clock.now();
      for (const task of source.tasks) {
        if (task.status === WorkflowStatus.RUNNING || task.status === WorkflowStatus.REDIRECT) {
          task.status = WorkflowStatus.TERMINAL;
          task.endTime = now;
        }
      }
      source.status = WorkflowStatus.TERMINAL;
      source.endTime = now;
      source.context.jump_error = reason;
      write(source);
      await finishStage(deps, tx, source, 'JumpToStageHandler');
      await deps.store.commit(tx);
    };
    if (!target) return refuse(`Target stage not found: ${message.targetStageRefId}`);
    const maxJumps = numberOr(workflow.context._max_jumps, numberOr(source.context._max_jumps, deps.config.defaultMaxJumps));
    const count = numberOr(source.context._jump_count, 0);
    if (count >= maxJumps) return refuse(`Max jump count exceeded: ${count}/${maxJumps}`);

    const downstreamOfTarget = downstreamClosure(scope, target.refId);
    const backward = source === target || downstreamOfTarget.has(source.refId);
    const history = [
      ...(Array.isArray(source.context._jump_history) ? (source.context._jump_history as unknown[]) : []),
      { from_stage: source.refId, to_stage: target.refId, jump_number: count + 1, context_keys: Object.keys(message.jumpContext) },
    ];
    const reset = (stage: StageExecution) => {
      stage.resetForRetry();
      for (const child of workflow.stages.filter((c) => c.parentStageId === stage.id && c.context[ON_FAILURE_STAGE_KEY] !== true)) {
        if (child.status === WorkflowStatus.NOT_STARTED) continue;
        child.resetForRetry();
        write(child);
      }
      write(stage);
    };

    // The target runs again, so does everything that consumed it: every started stage downstream of
    // it, a join included even when its other inputs lie outside the jump (they keep their results
    // and count again when the join re-checks its readiness). Resetting only the stages all of whose
    // requisites re-run left such a join finished, and the re-run branch's StartStage was then
    // dropped as a late duplicate: the stages below the join never ran again and the workflow
    // stalled (docs/decisions.md Q23).
    for (const stage of scope) {
      if (stage === target || stage === source || !downstreamOfTarget.has(stage.refId)) continue;
      if (stage.status !== WorkflowStatus.NOT_STARTED) reset(stage);
    }
    if (source !== target) {
      if (backward) {
        reset(source);
      } else {
        const now = deps.clock.now();
        source.status = WorkflowStatus.SUCCEEDED;
        source.endTime = now;
        for (const task of source.tasks) {
          if (task.status === WorkflowStatus.RUNNING || task.status === WorkflowStatus.REDIRECT) {
            task.status = WorkflowStatus.SUCCEEDED;
            task.endTime = now;
          }
        }
        // Forward: what only the source led to, and the target does not, is passed over.
        for (const stage of resettableClosure(scope, source.refId)) {
          if (stage === source || stage === target || downstreamOfTarget.has(stage.refId) || stage.status !== WorkflowStatus.NOT_STARTED) continue;
          stage.status = WorkflowStatus.SKIPPED;
          stage.endTime = now;
          for (const task of stage.tasks) task.status = WorkflowStatus.SKIPPED;
          write(stage);
        }
      }
      source.context._jump_count = count + 1;
      source.context._jump_history = history;
      write(source);
    }
    reset(target);
    Object.assign(target.context, message.jumpContext);
    target.context._jump_outputs = message.jumpOutputs;
    target.context._jump_bypass = true;
    target.context._jump_count = count + 1;
    target.context._jump_history = history;
    write(target);
    tx.push(Messages.startStage(workflow.id, target.id));
    await deps.store.commit(tx);
  });
}

function numberOr(value: unknown, fallback: number): number {
  return typeof value === 'number' && Number.isFinite(value) ? value : fallback;
}

/** Every stage that requires `refId`, directly or not. */
function downstreamClosure(stages: readonly StageExecution[], refId: string): Set<string> {
  const result = new Set<string>();
  const queue = [refId];
  while (queue.length > 0) {
    const current = queue.shift()!;
    for (const s of stages) {
      if (s.requisiteStageRefIds.includes(current) && !result.has(s.refId)) {
        result.add(s.refId);
        queue.push(s.refId);
      }
    }
  }
  return result;
}

/** `start` plus every stage all of whose requisites are in the set (fan-in aware), in stage order. */
function resettableClosure(stages: readonly StageExecution[], start: string): StageExecution[] {
  const inScope = new Set([start]);
  let grew = true;
  while (grew) {
    grew = false;
    for (const s of stages) {
      if (inScope.has(s.refId) || s.requisiteStageRefIds.length === 0) continue;
      if (s.requisiteStageRefIds.every((r) => inScope.has(r))) {
        inScope.add(s.refId);
        grew = true;
      }
    }
  }
  return stages.filter((s) => inScope.has(s.refId));
}
