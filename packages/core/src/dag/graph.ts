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
  const index = new Map<string, number>();
  nodes.forEach((n, i) => {
    index.set(n.refId, i);
  });
  const pending = new Array<number>(nodes.length).fill(0);
  const dependents: number[][] = nodes.map(() => []);
  nodes.forEach((n, i) => {
    for (const r of new Set(n.requisiteStageRefIds)) {
      const j = index.get(r);
      if (j === undefined) continue;
      pending[i]! += 1;
      dependents[j]!.push(i);
    }
  });
  const result: T[] = [];
  let layer = nodes.map((_, i) => i).filter((i) => pending[i] === 0);
  while (layer.length > 0) {
    const next: number[] = [];
    for (const i of layer) {
      result.push(nodes[i]!);
      for (const d of dependents[i]!) if (--pending[d]! === 0) next.push(d);
    }
    layer = next.sort((a, b) => a - b); // ties keep declaration order
  }
  if (result.length < nodes.length) {
    const remaining = nodes.filter((_, i) => pending[i]! > 0);
    const detail = remaining.map((n) => `${n.requisiteStageRefIds.join(',')}->${n.refId}`).join(', ');
    throw new CircularDependencyError(`Invalid stage relationships found: ${detail}`, remaining.map((n) => n.refId));
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
