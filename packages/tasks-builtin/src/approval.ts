import { Messages, Orchestrator, type Queue, type StageExecution, type Task, TaskResult } from '@stabilize/core';
import { isPlainObject, truthy } from './internal/context.js';

/** The last signal delivered to a stage: `[name, data]`, name null when there is none. */
export function getSignal(stage: StageExecution): [string | null, Record<string, unknown>] {
  const name = stage.context._signal_name;
  const data = stage.context._signal_data;
  return [typeof name === 'string' && name !== '' ? name : null, isPlainObject(data) ? data : {}];
}

const CONSUMED = { _signal_name: null, _signal_data: null };

/**
 * Suspends the stage until an `approve` or `reject` signal arrives. Approve succeeds with
 * `{approved: true, approval}`; reject fails (TERMINAL, or FAILED_CONTINUE with
 * `approval_reject_continues`). Registered as `approval` (aliases `human_approval`, `hitl_approval`).
 */
export class ApprovalTask implements Task {
  readonly aliases = ['human_approval', 'hitl_approval', 'ApprovalTask'];

  execute(stage: StageExecution): TaskResult {
    const [name, data] = getSignal(stage);
    if (name === 'approve') return TaskResult.success({ outputs: { approved: true, approval: data }, context: CONSUMED });
    if (name === 'reject') {
      const outputs = { approved: false, approval: data };
      if (truthy(stage.context.approval_reject_continues)) return TaskResult.failedContinue('Approval rejected', { outputs, context: CONSUMED });
      return TaskResult.terminal('Approval rejected', { context: { ...outputs, ...CONSUMED } });
    }
    // No signal yet, or one this task does not know: wait (again).
    return TaskResult.suspend({ context: name === null ? {} : CONSUMED });
  }
}

/** Where signals go: an Orchestrator, or a Queue directly. */
export type SignalTarget = Orchestrator | Queue;

export interface SignalOptions {
  /** Buffer the signal when the stage is not suspended yet (default true). */
  persistent?: boolean;
}

/** A stage id, or `{ refId }` looked up through the Orchestrator's store. */
export type StageRef = string | { refId: string };

async function stageIdOf(target: SignalTarget, executionId: string, stage: StageRef): Promise<string> {
  if (typeof stage === 'string') return stage;
  if (!(target instanceof Orchestrator)) throw new TypeError('Finding a stage by refId needs an Orchestrator with a store');
  const workflow = await target.getExecution(executionId);
  const found = workflow.stageByRefId(stage.refId);
  if (!found) throw new TypeError(`No stage with refId '${stage.refId}' in workflow ${executionId}`);
  return found.id;
}

/** Pushes a SignalStage message (persistent by default, so an early signal is buffered). */
export async function sendSignal(target: SignalTarget, executionId: string, stage: StageRef, signalName: string, signalData: Record<string, unknown> = {}, options: SignalOptions = {}): Promise<void> {
  const stageId = await stageIdOf(target, executionId, stage);
  const persistent = options.persistent ?? true;
  if (target instanceof Orchestrator) await target.signal(executionId, stageId, signalName, signalData, { persistent });
  else await target.push(Messages.signalStage(executionId, stageId, signalName, signalData, persistent));
}

/** Sends `approve` with `data` (e.g. `{ user: 'alice' }`). */
export function approve(target: SignalTarget, executionId: string, stage: StageRef, data: Record<string, unknown> = {}, options: SignalOptions = {}): Promise<void> {
  return sendSignal(target, executionId, stage, 'approve', data, options);
}

/** Sends `reject` with `data`. */
export function reject(target: SignalTarget, executionId: string, stage: StageRef, data: Record<string, unknown> = {}, options: SignalOptions = {}): Promise<void> {
  return sendSignal(target, executionId, stage, 'reject', data, options);
}
