// The replayable state: JSON documents of workflows, stages and tasks, the part of a stage a store
// rewrites on update, field-level diffs between two such states, and folding a `workflow.changed`
// payload into a Workflow. The recorder and the replayer share these functions, so what is recorded
// is exactly what replay applies.
//
// Which fields a write changes mirrors the reference store (InMemoryWorkflowStore.commit):
// * a workflow insert writes the whole workflow with every stage and task;
// * a workflow update writes the explicit WorkflowStateUpdate fields;
// * a stage insert writes the whole stage (position: after the workflow's last stage);
// * a stage update writes status, context, outputs, startTime, endTime, ancestorOutputs, the whole
//   task list (every task field) and version + 1 — never the stage's structure.
import { StageExecution, TaskExecution, Workflow, type WorkflowStateUpdate } from '@stabilize/core';

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
export type JsonObject = { [key: string]: Json };

/** The value as a store persists it: a JSON round trip (undefined members dropped). */
export function toJson<T = Json>(value: unknown): T {
  if (value === undefined) return null as T;
  return JSON.parse(JSON.stringify(value)) as T;
}

const isObject = (value: unknown): value is JsonObject => value !== null && typeof value === 'object' && !Array.isArray(value);

export function jsonEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (a === null || b === null || typeof a !== 'object' || typeof b !== 'object') return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  if (Array.isArray(a)) {
    const other = b as unknown[];
    return a.length === other.length && a.every((item, i) => jsonEqual(item, other[i]));
  }
  const ka = Object.keys(a as object);
  const kb = Object.keys(b as object);
  if (ka.length !== kb.length) return false;
  return ka.every((k) => Object.hasOwn(b as object, k) && jsonEqual((a as JsonObject)[k], (b as JsonObject)[k]));
}

// ---- documents ----------------------------------------------------------------------------------

/** A workflow with all its stages and tasks, as JSON. */
export type WorkflowDocument = JsonObject & { id: string; stages: StageDocument[] };
export type StageDocument = JsonObject & { id: string; tasks: TaskDocument[] };
export type TaskDocument = JsonObject & { id: string };

export const workflowDocument = (workflow: Workflow): WorkflowDocument => toJson<WorkflowDocument>(workflow);
export const stageDocument = (stage: StageExecution): StageDocument => toJson<StageDocument>(stage);

export function taskFromDocument(doc: TaskDocument): TaskExecution {
  return new TaskExecution(doc as unknown as ConstructorParameters<typeof TaskExecution>[0]);
}

export function stageFromDocument(doc: StageDocument): StageExecution {
  return new StageExecution({ ...(doc as unknown as ConstructorParameters<typeof StageExecution>[0]), tasks: doc.tasks.map(taskFromDocument) });
}

export function workflowFromDocument(doc: WorkflowDocument): Workflow {
  const { stages, ...rest } = doc;
  return new Workflow({ ...(rest as unknown as ConstructorParameters<typeof Workflow>[0]), stages: stages.map(stageFromDocument) });
}

// ---- stage state and its diffs --------------------------------------------------------------------

/** What a stage update writes. */
export interface StageState {
  version: number;
  status: string;
  startTime: number | null;
  endTime: number | null;
  context: JsonObject;
  outputs: JsonObject;
  ancestorOutputs: JsonObject | null;
  tasks: TaskDocument[];
}

export function stageState(stage: StageExecution): StageState {
  return toJson<StageState>({
    version: stage.version,
    status: stage.status,
    startTime: stage.startTime,
    endTime: stage.endTime,
    context: stage.context,
    outputs: stage.outputs,
    ancestorOutputs: stage.ancestorOutputs,
    tasks: stage.tasks,
  });
}

/** A change to an object-valued field: top-level keys set or removed, or the whole value replaced. */
export type ObjectDelta = { set?: JsonObject; unset?: string[] } | { replace: Json };

export interface StageChange {
  /** The stage's stored version after the write. */
  version: number;
  status?: string;
  startTime?: number | null;
  endTime?: number | null;
  context?: ObjectDelta;
  outputs?: ObjectDelta;
  ancestorOutputs?: ObjectDelta;
  /** Changed fields per task, when the task list (ids, in order) is unchanged. */
  tasks?: Record<string, JsonObject>;
  /** The whole task list, when it changed (or when the previous state is unknown). */
  taskList?: TaskDocument[];
}

/** The payload of `workflow.changed`. */
export interface WorkflowChangedData {
  /** Workflow fields written (the transaction's updates merged in order). */
  workflow?: JsonObject;
  /** Stages inserted, in insertion order. */
  insertedStages?: StageDocument[];
  /** Stage writes by stage id. */
  stages?: Record<string, StageChange>;
}

function diffObject(prev: Json, next: Json): ObjectDelta | undefined {
  if (jsonEqual(prev, next)) return undefined;
  if (!isObject(prev) || !isObject(next)) return { replace: next };
  const set: JsonObject = {};
  const unset: string[] = [];
  for (const [key, value] of Object.entries(next)) if (!Object.hasOwn(prev, key) || !jsonEqual(prev[key], value)) set[key] = value;
  for (const key of Object.keys(prev)) if (!Object.hasOwn(next, key)) unset.push(key);
  const delta: { set?: JsonObject; unset?: string[] } = {};
  if (Object.keys(set).length > 0) delta.set = set;
  if (unset.length > 0) delta.unset = unset;
  return delta;
}

function applyDelta(current: Json, delta: ObjectDelta): Json {
  if ('replace' in delta) return structuredClone(delta.replace);
  const base: JsonObject = isObject(current) ? { ...current } : {};
  for (const key of delta.unset ?? []) delete base[key];
  for (const [key, value] of Object.entries(delta.set ?? {})) base[key] = structuredClone(value);
  return base;
}

/**
 * The change from `prev` (the stored state the write replaces; null when unknown) to `next`, with
 * `version` = the version after the write.
 */
export function diffStage(prev: StageState | null, next: StageState, version: number): StageChange {
  if (prev === null) {
    return {
      version,
      status: next.status,
      startTime: next.startTime,
      endTime: next.endTime,
      context: { replace: next.context },
      outputs: { replace: next.outputs },
      ancestorOutputs: { replace: next.ancestorOutputs },
      taskList: next.tasks,
    };
  }
  const change: StageChange = { version };
  if (prev.status !== next.status) change.status = next.status;
  if (prev.startTime !== next.startTime) change.startTime = next.startTime;
  if (prev.endTime !== next.endTime) change.endTime = next.endTime;
  const context = diffObject(prev.context, next.context);
  if (context) change.context = context;
  const outputs = diffObject(prev.outputs, next.outputs);
  if (outputs) change.outputs = outputs;
  const ancestors = diffObject(prev.ancestorOutputs, next.ancestorOutputs);
  if (ancestors) change.ancestorOutputs = ancestors;
  const sameList = prev.tasks.length === next.tasks.length && prev.tasks.every((t, i) => t.id === next.tasks[i]!.id);
  if (!sameList) {
    change.taskList = next.tasks;
  } else {
    const tasks: Record<string, JsonObject> = {};
    next.tasks.forEach((task, i) => {
      const before = prev.tasks[i]!;
      const fields: JsonObject = {};
      for (const [key, value] of Object.entries(task)) if (!jsonEqual(before[key], value)) fields[key] = value;
      for (const key of Object.keys(before)) if (!Object.hasOwn(task, key)) fields[key] = null;
      if (Object.keys(fields).length > 0) tasks[task.id] = fields;
    });
    if (Object.keys(tasks).length > 0) change.tasks = tasks;
  }
  return change;
}

/** The state after `change` (the inverse of diffStage). */
export function applyStageChange(prev: StageState, change: StageChange): StageState {
  const next: StageState = { ...prev, version: change.version };
  if (change.status !== undefined) next.status = change.status;
  if (change.startTime !== undefined) next.startTime = change.startTime;
  if (change.endTime !== undefined) next.endTime = change.endTime;
  if (change.context) next.context = applyDelta(prev.context, change.context) as JsonObject;
  if (change.outputs) next.outputs = applyDelta(prev.outputs, change.outputs) as JsonObject;
  if (change.ancestorOutputs) next.ancestorOutputs = applyDelta(prev.ancestorOutputs, change.ancestorOutputs) as JsonObject | null;
  if (change.taskList) next.tasks = structuredClone(change.taskList);
  else if (change.tasks) next.tasks = prev.tasks.map((t) => (change.tasks![t.id] ? { ...t, ...structuredClone(change.tasks![t.id]!) } : t));
  return next;
}

/** Writes a stage state into a stage object (replay). */
export function setStageState(stage: StageExecution, state: StageState): void {
  stage.version = state.version;
  stage.status = state.status as StageExecution['status'];
  stage.startTime = state.startTime;
  stage.endTime = state.endTime;
  stage.context = state.context;
  stage.outputs = state.outputs;
  stage.ancestorOutputs = state.ancestorOutputs;
  stage.tasks = state.tasks.map(taskFromDocument);
}

/** The workflow fields of the transaction's updates of one workflow, merged in order, as JSON. */
export function mergeWorkflowUpdates(updates: readonly WorkflowStateUpdate[]): JsonObject {
  const merged: Record<string, unknown> = {};
  for (const fields of updates) for (const [key, value] of Object.entries(fields)) if (value !== undefined) merged[key] = value;
  return toJson<JsonObject>(merged);
}

/** Folds one `workflow.changed` payload into `workflow` (replay). */
export function applyWorkflowChanged(workflow: Workflow, data: WorkflowChangedData): void {
  if (data.workflow) Object.assign(workflow, structuredClone(data.workflow));
  for (const doc of data.insertedStages ?? []) {
    const stage = stageFromDocument(doc);
    const existing = workflow.stages.findIndex((s) => s.id === stage.id);
    if (existing >= 0) continue; // inserted once; a repeat (never written by a store) is ignored
    workflow.addStage(stage);
  }
  for (const [stageId, change] of Object.entries(data.stages ?? {})) {
    const stage = workflow.stages.find((s) => s.id === stageId);
    if (!stage) continue;
    setStageState(stage, applyStageChange(stageState(stage), change));
  }
}
