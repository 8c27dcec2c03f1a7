// The data-flow fold of engine.md §7: lists are unioned (order kept, duplicates dropped), anything
// else is replaced by the later value.
import { isDeepStrictEqual } from 'node:util';
import type { Context } from '../model/stage-execution.js';
import { type GraphNode, topologicalSort } from './graph.js';

export function mergeValue(previous: unknown, next: unknown): unknown {
  if (Array.isArray(previous) && Array.isArray(next)) {
    const merged = [...previous];
    for (const item of next) if (!merged.some((m) => isDeepStrictEqual(m, item))) merged.push(item);
    return merged;
  }
  return next;
}

/** Folds `layer` onto `base` (returns a new object; neither input is changed). */
export function mergeContexts(base: Context, layer: Context): Context {
  const result: Context = { ...base };
  for (const [key, value] of Object.entries(layer)) {
    result[key] = Object.hasOwn(result, key) ? mergeValue(result[key], value) : value;
  }
  return result;
}

export interface OutputNode extends GraphNode {
  outputs: Context;
}

/** Folds the outputs of the ancestors of `refId`, in topological order (ties: declaration order). */
export function mergeAncestorOutputs(nodes: readonly OutputNode[], ancestors: ReadonlySet<string>): Context {
  const ordered = topologicalSort(nodes.filter((n) => ancestors.has(n.refId)));
  let merged: Context = {};
  for (const n of ordered) merged = mergeContexts(merged, n.outputs);
  return merged;
}
