// Structured loops (WCP-21): while / repeat-until built from ordinary stages and dynamic routing
// (`TaskResult.jumpTo`), with the three small tasks that drive them. Register the tasks once with
// `registerLoopTasks(registry)`.
import { ValidationError } from '../errors.js';
import { evaluateCondition } from '../expressions/index.js';
import { type Context, StageExecution } from '../model/stage-execution.js';
import { TaskExecution } from '../model/task-execution.js';
import type { TaskRegistry } from '../task/registry.js';
import type { Task } from '../task/task.js';
import { TaskResult } from '../task/task-result.js';

export interface LoopOptions {
  /** Prefix of the generated ref ids (default `loop`). */
  prefix?: string;
  /** The loop fails (TERMINAL) rather than run its body more often than this (default 100). */
  maxIterations?: number;
  /** Initial loop variables: visible to the condition and the body, carried from one iteration to the next. */
  context?: Context;
  /** Requisites of the loop's first stage. */
  requisites?: readonly string[];
}

const task = (name: string, implementingClass: string) => TaskExecution.create({ name, implementingClass });

/** The body is chained in order; the first body stage requires `first`. Requisites are replaced. */
function chain(first: string, body: readonly StageExecution[]): string {
  let previous = first;
  for (const stage of body) {
    stage.requisiteStageRefIds = [previous];
    previous = stage.refId;
  }
  return previous;
}

function check(condition: string, body: readonly StageExecution[], max: number): void {
  if (typeof condition !== 'string' || condition.trim() === '') throw new ValidationError('A loop needs a condition expression');
  if (!Number.isInteger(max) || max < 1) throw new ValidationError('maxIterations must be a positive integer');
  if (body.some((s) => s.parentStageId !== null)) throw new ValidationError('Loop body stages must be top-level stages');
}

/**
 * Builds structured loops. Downstream stages require `LoopBuilder.exitRefId(prefix)`. The loop state
 * (the initial `context` plus whatever the body outputs) is carried by the jumps, so the condition and
 * the next iteration see the values of the last one. The jump budget of the loop stages
 * (`_max_jumps`) is set from `maxIterations`; a workflow-level `_max_jumps` still caps it.
 */
export const LoopBuilder = {
  exitRefId: (prefix = 'loop') => `${prefix}_exit`,

  /** `{p}_condition` (LoopConditionTask) → body… → `{p}_loopback` (LoopBackTask) → `{p}_exit` (LoopStateTask). */
  whileLoop(condition: string, body: readonly StageExecution[], options: LoopOptions = {}): StageExecution[] {
    const p = options.prefix ?? 'loop';
    const max = options.maxIterations ?? 100;
    check(condition, body, max);
    const state = { ...(options.context ?? {}) };
    const cond = new StageExecution({
      refId: `${p}_condition`,
      type: 'noop',
      name: `${p} condition check`,
      requisiteStageRefIds: options.requisites ?? [],
      context: { ...state, _loop_state: state, _loop_condition: condition, _loop_max_iterations: max, _loop_iteration: 0, _loop_type: 'while', _loop_exit_ref_id: `${p}_exit`, _max_jumps: max + 1 },
      tasks: [task('Loop Condition Check', 'LoopConditionTask')],
    });
    const last = chain(cond.refId, body);
    const back = new StageExecution({
      refId: `${p}_loopback`,
      type: 'noop',
      name: `${p} loop back`,
      requisiteStageRefIds: [last],
      context: { _loop_target_ref_id: cond.refId, _max_jumps: max + 1 },
      tasks: [task('Loop Back', 'LoopBackTask')],
    });
    const exit = new StageExecution({ refId: `${p}_exit`, type: 'noop', name: `${p} exit`, requisiteStageRefIds: [back.refId], tasks: [task('Loop Exit', 'LoopStateTask')] });
    return [cond, ...body, back, exit];
  },

  /** `{p}_entry` (LoopStateTask) → body… → `{p}_condition` (LoopConditionTask) → `{p}_exit` (LoopStateTask). */
  repeatUntil(condition: string, body: readonly StageExecution[], options: LoopOptions = {}): StageExecution[] {
    const p = options.prefix ?? 'loop';
    const max = options.maxIterations ?? 100;
    check(condition, body, max);
    const state = { ...(options.context ?? {}) };
    const entry = new StageExecution({
      refId: `${p}_entry`,
      type: 'noop',
      name: `${p} entry`,
      requisiteStageRefIds: options.requisites ?? [],
      context: { ...state, _loop_state: state, _loop_iteration: 0, _loop_type: 'repeat_until' },
      tasks: [task('Loop Entry', 'LoopStateTask')],
    });
    const last = chain(entry.refId, body);
    const cond = new StageExecution({
      refId: `${p}_condition`,
      type: 'noop',
      name: `${p} condition check`,
      requisiteStageRefIds: [last],
      context: { _loop_condition: condition, _loop_max_iterations: max, _loop_iteration: 0, _loop_target_ref_id: entry.refId, _loop_type: 'repeat_until', _max_jumps: max + 1 },
      tasks: [task('Loop Condition Check', 'LoopConditionTask')],
    });
    const exit = new StageExecution({ refId: `${p}_exit`, type: 'noop', name: `${p} exit`, requisiteStageRefIds: [cond.refId], tasks: [task('Loop Exit', 'LoopStateTask')] });
    return [entry, ...body, cond, exit];
  },
};

/** The loop variables a stage after the body sees: what its ancestors (the body, last) output. */
function stateFromAncestors(stage: StageExecution): Context {
  const state: Context = {};
  for (const [key, value] of Object.entries(stage.ancestorOutputs ?? {})) if (!key.startsWith('_')) state[key] = value;
  return state;
}

/** The loop variables a stage before the body sees: the state the last jump brought, over its ancestors. */
function stateFromJump(stage: StageExecution): Context {
  return { ...stateFromAncestors(stage), ...((stage.context._loop_state as Context | undefined) ?? {}) };
}

const int = (value: unknown, fallback: number) => (typeof value === 'number' && Number.isInteger(value) ? value : fallback);

/**
 * Evaluates `_loop_condition` (the expression language) over the stage context. While-loop: true →
 * succeed (the body runs) and publish the loop state; false → jump forward to the exit. Repeat-until:
 * true → succeed (the loop ends); false → jump back to the entry. More than `_loop_max_iterations`
 * body runs, or a condition that cannot be evaluated, fail the stage.
 */
export class LoopConditionTask implements Task {
  execute(stage: StageExecution): TaskResult {
    const condition = stage.context._loop_condition;
    if (typeof condition !== 'string') return TaskResult.terminal('LoopConditionTask: no _loop_condition in context');
    const iteration = int(stage.context._loop_iteration, 0);
    const max = int(stage.context._loop_max_iterations, 100);
    const state = stage.context._loop_type === 'repeat_until' ? stateFromAncestors(stage) : stateFromJump(stage);
    let holds: boolean;
    try {
      holds = evaluateCondition(condition, { ...stage.context, ...state });
    } catch (error) {
      return TaskResult.terminal(`Loop condition '${condition}' failed: ${error instanceof Error ? error.message : String(error)}`);
    }
    const exceeded = () => TaskResult.terminal(`Loop exceeded ${max} iterations`);
    if (stage.context._loop_type === 'repeat_until') {
      if (holds) return TaskResult.success({ context: { _loop_iteration: iteration + 1 }, outputs: { ...state, loop_iterations: iteration + 1 } });
      if (iteration + 1 >= max) return exceeded();
      const target = String(stage.context._loop_target_ref_id ?? '');
      return TaskResult.jumpTo(target, { context: { ...state, _loop_state: state }, outputs: {} });
    }
    if (!holds) {
      const exit = String(stage.context._loop_exit_ref_id ?? '');
      const final = { ...state, loop_iterations: iteration };
      return TaskResult.jumpTo(exit, { context: { _loop_state: final }, outputs: final });
    }
    if (iteration >= max) return exceeded();
    return TaskResult.success({ context: { _loop_iteration: iteration + 1 }, outputs: state });
  }
}

/** Jumps back to `_loop_target_ref_id`, carrying the loop state (what the body output) along. */
export class LoopBackTask implements Task {
  execute(stage: StageExecution): TaskResult {
    const target = stage.context._loop_target_ref_id;
    if (typeof target !== 'string' || target === '') return TaskResult.terminal('LoopBackTask: no _loop_target_ref_id in context');
    const state = stateFromAncestors(stage);
    return TaskResult.jumpTo(target, { context: { ...state, _loop_state: state } });
  }
}

/** Publishes the loop state as outputs: the repeat-until entry (for the body) and the loop exit (for what follows). */
export class LoopStateTask implements Task {
  execute(stage: StageExecution): TaskResult {
    return TaskResult.success({ outputs: stateFromJump(stage) });
  }
}

/** Registers LoopConditionTask, LoopBackTask and LoopStateTask under their class names. */
export function registerLoopTasks(registry: TaskRegistry): TaskRegistry {
  return registry.register('LoopConditionTask', LoopConditionTask).register('LoopBackTask', LoopBackTask).register('LoopStateTask', LoopStateTask);
}
