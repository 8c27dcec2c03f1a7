// Workflow shapes the benchmarks run: all stages carry one no-op task.
import { StageExecution, TaskExecution, Workflow } from '@stabilize/core';

const stage = (refId: string, requisiteStageRefIds: string[] = []) =>
  new StageExecution({ refId, type: 'noop', name: refId, requisiteStageRefIds, tasks: [TaskExecution.create({ name: 'noop', implementingClass: 'noop' })] });

export type Shape = 'chain' | 'fanout' | 'independent' | 'latency';

/** Pause between two starts: only the `latency` shape spaces its starts, to measure an idle pickup. */
export const START_SPACING_MS: Record<Shape, number> = { chain: 0, fanout: 0, independent: 0, latency: 20 };

/** The workflows of one case and the number of stages they hold. */
export function buildShape(shape: Shape, size: number): Workflow[] {
  switch (shape) {
    case 'chain':
      return [Workflow.create({ application: 'bench', name: `chain ${size}`, stages: Array.from({ length: size }, (_, i) => stage(`s${i}`, i > 0 ? [`s${i - 1}`] : [])) })];
    case 'fanout': {
      const branches = Array.from({ length: size }, (_, i) => stage(`b${i}`, ['root']));
      return [Workflow.create({ application: 'bench', name: `fanout ${size}`, stages: [stage('root'), ...branches, stage('join', branches.map((b) => b.refId))] })];
    }
    case 'latency': // one-stage workflows started one at a time (see START_SPACING_MS)
      return Array.from({ length: size }, (_, i) => Workflow.create({ application: 'bench', name: `latency ${i}`, stages: [stage('a')] }));
    case 'independent':
      return Array.from({ length: size }, (_, i) => Workflow.create({ application: 'bench', name: `independent ${i}`, stages: [stage('a'), stage('b', ['a']), stage('c', ['b'])] }));
  }
}
