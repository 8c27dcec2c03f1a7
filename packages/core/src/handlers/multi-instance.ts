// Multiple-instance activities (WCP-12..15, 26, 27, 34..36; docs/patterns.md). A stage with
// `miConfig` is the activity: its tasks are the body of every instance, its instances are its
// synthetic children `<refId>_instance_<i>`, and the stage itself is their join.
import { mergeContexts } from '../dag/merge.js';
import { isWithdrawn } from '../dag/readiness.js';
import { getOutputReducer } from '../dag/reducers.js';
import { ValidationError } from '../errors.js';
import { Messages } from '../messages/messages.js';
import { type Context, StageExecution } from '../model/stage-execution.js';
import { isComplete, isContinuable, isHalt, WorkflowStatus } from '../model/status.js';
import { TaskExecution } from '../model/task-execution.js';
import type { Transaction } from '../store/transaction.js';

export const MiKeys = {
  parentRefId: '_mi_parent_ref_id',
  index: '_mi_instance_index',
  count: '_mi_instance_count',
  planned: '_mi_planned',
  closed: '_mi_closed',
  template: '_mi_template',
} as const;

/** Context keys of the activity that its instances do not inherit. */
const NOT_INHERITED = new Set(['stageEnabled', 'terminateWorkflow', 'threadCount', 'manualSkip']);

export function isMultiInstanceStage(stage: Pick<StageExecution, 'miConfig'>): boolean {
  return stage.miConfig !== null && stage.miConfig !== undefined;
}

export function isInstance(stage: Pick<StageExecution, 'parentStageId' | 'context'>): boolean {
  return stage.parentStageId !== null && typeof stage.context[MiKeys.parentRefId] === 'string';
}

/** The activity's instances among its synthetic children, by index. */
export function instancesOf(children: readonly StageExecution[]): StageExecution[] {
  return children.filter(isInstance).sort((a, b) => Number(a.context[MiKeys.index]) - Number(b.context[MiKeys.index]));
}

interface TaskTemplate {
  name: string;
  implementingClass: string;
}

/** The instance body: the activity's declared tasks (moved into `_mi_template` when it is planned). */
function template(stage: StageExecution): TaskTemplate[] {
  const stored = stage.context[MiKeys.template];
  if (Array.isArray(stored)) return stored as TaskTemplate[];
  return stage.tasks.map((t) => ({ name: t.name, implementingClass: t.implementingClass }));
}

/** What an instance inherits from the activity's planned context. */
function inherited(stage: StageExecution): Context {
  const result: Context = {};
  for (const [key, value] of Object.entries(stage.context)) if (!key.startsWith('_') && !NOT_INHERITED.has(key)) result[key] = structuredClone(value);
  return result;
}

function templateTasks(stage: StageExecution): TaskExecution[] {
  return template(stage).map((t) => TaskExecution.create({ name: t.name, implementingClass: t.implementingClass }));
}

/** A new instance (synthetic child) of `stage` with index `index` and its own context on top. */
export function newInstance(stage: StageExecution, index: number, own: Context, withInherited: boolean): StageExecution {
  return StageExecution.createSynthetic({
    parent: stage,
    owner: 'STAGE_BEFORE',
    refId: `${stage.refId}_instance_${index}`,
    type: stage.type,
    name: `${stage.name || stage.refId} [instance ${index}]`,
    context: { ...(withInherited ? inherited(stage) : {}), ...structuredClone(own), [MiKeys.parentRefId]: stage.refId, [MiKeys.index]: index },
    tasks: templateTasks(stage),
  });
}

/** Per-instance contexts known when the activity is reached: a count or a collection from its context (WCP-14). */
function runtimeItems(stage: StageExecution): Context[] {
  const config = stage.miConfig ?? {};
  if (config.collectionFromContext) {
    const items = stage.context[config.collectionFromContext];
    if (!Array.isArray(items)) throw new ValidationError(`miConfig.collectionFromContext: context key '${config.collectionFromContext}' is not a list`);
    const key = config.itemContextKey || 'item';
    return items.map((item) => ({ [key]: item }));
  }
  let count = config.count ?? 0;
  if (config.countFromContext) {
    const raw = stage.context[config.countFromContext];
    count = typeof raw === 'string' && raw.trim() !== '' ? Number(raw) : (raw as number);
    if (!Number.isInteger(count) || count < 0) throw new ValidationError(`miConfig.countFromContext: context key '${config.countFromContext}' is not a non-negative integer`);
  }
  return Array.from({ length: count }, () => ({}));
}

/**
 * Planning of the activity (StartStage, in the claim transaction): instances known now are created or
 * completed with the activity's context and started; the activity's own tasks become the template.
 */
export function planMultiInstance(tx: Transaction, stage: StageExecution, children: readonly StageExecution[]): void {
  const config = stage.miConfig ?? {};
  stage.context[MiKeys.template] = template(stage);
  stage.tasks = [];
  const existing = instancesOf(children);
  let next = Math.max(typeof stage.context[MiKeys.count] === 'number' ? (stage.context[MiKeys.count] as number) : 0, existing.length);
  for (const instance of existing) {
    if (instance.status !== WorkflowStatus.NOT_STARTED) continue;
    instance.context = { ...inherited(stage), ...instance.context };
    if (instance.tasks.length === 0) instance.tasks = templateTasks(stage);
    tx.updateStage(instance, WorkflowStatus.NOT_STARTED);
    tx.push(Messages.startStage(stage.executionId, instance.id));
  }
  let created = 0;
  if (stage.context[MiKeys.planned] !== true) {
    for (const own of runtimeItems(stage)) {
      const instance = newInstance(stage, next++, own, true);
      tx.insertStage(instance);
      tx.push(Messages.startStage(stage.executionId, instance.id));
      created++;
    }
    stage.context[MiKeys.planned] = true;
  }
  stage.context[MiKeys.count] = next;
  if (!config.allowDynamic) stage.context[MiKeys.closed] = true;
  const none = existing.filter((i) => !isComplete(i.status)).length + created === 0;
  if (config.syncOnComplete === false || (none && stage.context[MiKeys.closed] === true)) tx.push(Messages.completeStage(stage.executionId, stage.id));
}

export type MultiInstanceOutcome =
  | { kind: 'wait' }
  | { kind: 'complete'; status: WorkflowStatus; outputs: Context; withdraw: StageExecution[]; error?: string };

/**
 * The activity's join over its instances (CompleteStage): all instances (or `joinThreshold` of them)
 * done, creation closed for dynamic activities; a hard failure before that fails the activity.
 */
export function evaluateMultiInstance(stage: StageExecution, instances: readonly StageExecution[], force = false): MultiInstanceOutcome {
  const config = stage.miConfig ?? {};
  const live = instances.filter((i) => !isWithdrawn(i));
  const done = live.filter((i) => isContinuable(i.status));
  const halted = live.filter((i) => isHalt(i.status));
  const active = live.filter((i) => !isComplete(i.status));
  const closed = stage.context[MiKeys.closed] === true || !config.allowDynamic;
  const threshold = config.joinThreshold && config.joinThreshold > 0 ? config.joinThreshold : null;
  const success = (withdraw: StageExecution[]): MultiInstanceOutcome => ({
    kind: 'complete',
    status: done.some((i) => i.status === WorkflowStatus.FAILED_CONTINUE) ? WorkflowStatus.FAILED_CONTINUE : WorkflowStatus.SUCCEEDED,
    outputs: aggregateOutputs(stage, done),
    withdraw,
  });
  if (force) return success(active);
  if (config.syncOnComplete === false) return success([]);
  if (threshold !== null && done.length >= threshold) return success(config.cancelRemaining ? active : []);
  if (halted.length > 0) {
    return { kind: 'complete', status: stage.failureStatus(), outputs: aggregateOutputs(stage, done), withdraw: active, error: `Instance ${halted[0]!.refId} ended ${halted[0]!.status}` };
  }
  if (!closed) return { kind: 'wait' };
  if (threshold === null) return active.length === 0 ? success([]) : { kind: 'wait' };
  if (done.length + active.length < threshold) {
    return { kind: 'complete', status: stage.failureStatus(), outputs: aggregateOutputs(stage, done), withdraw: active, error: `Join threshold ${threshold} can no longer be reached` };
  }
  return { kind: 'wait' };
}

/** Outputs of the finished instances folded in index order; `outputReducers` keys are reduced instead. */
function aggregateOutputs(stage: StageExecution, done: readonly StageExecution[]): Context {
  let outputs: Context = {};
  for (const instance of done) outputs = mergeContexts(outputs, instance.outputs);
  for (const [key, reducerName] of Object.entries(stage.outputReducers)) {
    const values = done.filter((i) => Object.hasOwn(i.outputs, key)).map((i) => i.outputs[key]);
    if (values.length > 0) outputs[key] = getOutputReducer(reducerName)(values);
  }
  return { ...stage.outputs, ...outputs };
}

/** Marks instance creation closed. */
export function closeCreation(stage: StageExecution): void {
  stage.context[MiKeys.closed] = true;
}
