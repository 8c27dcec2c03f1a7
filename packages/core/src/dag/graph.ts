import { CircularDependencyError, InvalidStageGraphError } from '../errors.js';

/** The minimum a graph algorithm needs to know about a stage. */
export interface GraphNode {
  refId: string;
  requisiteStageRefIds: readonly string[];
}

/**
 * Layer-by-layer Kahn sort: repeatedly emit every node whose requisites were all emitted. Ties
 * inside a layer keep input order, so the result is deterministic for a given stage list.
 * Requisites that are not in `nodes` are ignored.
 */
export function topologicalSort<T extends GraphNode>(nodes: readonly T[]): T[] {
  const known = new Set(nodes.map((n) => n.refId));
  const emitted = new Set<string>();
  const result: T[] = [];
  let remaining = [...nodes];
  while (remaining.length > 0) {
    const layer = remaining.filter((n) => n.requisiteStageRefIds.every((r) => !known.has(r) || emitted.has(r)));
    if (layer.length === 0) {
      const detail = remaining.map((n) => `${n.requisiteStageRefIds.join(',')}->${n.refId}`).join(', ');
      throw new CircularDependencyError(
        `Invalid stage relationships found: ${detail}`,
        remaining.map((n) => n.refId),
      );
    }
    for (const n of layer) {
      emitted.add(n.refId);
      result.push(n);
    }
    remaining = remaining.filter((n) => !emitted.has(n.refId));
  }
  return result;
}

/** Throws a typed error naming the culprit for the first problem found (engine.md §1.8 order). */
export function validateStageGraph(nodes: readonly GraphNode[]): void {
  const seen = new Set<string>();
  for (const n of nodes) {
    if (seen.has(n.refId)) {
      throw new InvalidStageGraphError('duplicate_ref', `duplicate_ref: ref_id '${n.refId}' is used by more than one stage`, [n.refId]);
    }
    seen.add(n.refId);
  }
  for (const n of nodes) {
    if (n.requisiteStageRefIds.includes(n.refId)) {
      throw new InvalidStageGraphError('self_edge', `self_edge: stage '${n.refId}' lists itself as a requisite`, [n.refId]);
    }
  }
  for (const n of nodes) {
    const missing = n.requisiteStageRefIds.filter((r) => !seen.has(r)).sort();
    if (missing.length > 0) {
      const list = missing.map((m) => `'${m}'`).join(', ');
      throw new InvalidStageGraphError('unknown_ref', `unknown_ref: stage '${n.refId}' requires nonexistent stage(s) [${list}]`, [n.refId, ...missing]);
    }
  }
  topologicalSort(nodes);
}

/** Transitive requisites of `refId` (not including itself). */
export function ancestorRefIds(nodes: readonly GraphNode[], refId: string): Set<string> {
  const byRef = new Map(nodes.map((n) => [n.refId, n]));
  const result = new Set<string>();
  const stack = [...(byRef.get(refId)?.requisiteStageRefIds ?? [])];
  while (stack.length > 0) {
    const next = stack.pop()!;
    if (result.has(next) || next === refId) continue;
    result.add(next);
    stack.push(...(byRef.get(next)?.requisiteStageRefIds ?? []));
  }
  return result;
}
