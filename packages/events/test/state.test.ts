// diffStage / applyStageChange are inverses, for random stage states.
import { describe, expect, it } from 'vitest';
import { applyStageChange, diffStage, type StageState } from '../src/index.js';

function rng(seed: number): () => number {
  let s = seed;
  return () => {
    s = (s * 1103515245 + 12345) % 2147483648;
    return s / 2147483648;
  };
}

function randomValue(r: () => number, depth = 0): unknown {
  const k = Math.floor(r() * (depth > 2 ? 4 : 6));
  if (k === 0) return null;
  if (k === 1) return Math.floor(r() * 100);
  if (k === 2) return r() < 0.5;
  if (k === 3) return `s${Math.floor(r() * 5)}`;
  if (k === 4) return Array.from({ length: Math.floor(r() * 3) }, () => randomValue(r, depth + 1));
  return randomObject(r, depth + 1);
}

function randomObject(r: () => number, depth = 0): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (let i = 0; i < Math.floor(r() * 5); i++) out[`k${Math.floor(r() * 6)}`] = randomValue(r, depth);
  return out;
}

function randomState(r: () => number, taskIds: string[]): StageState {
  const statuses = ['NOT_STARTED', 'RUNNING', 'SUCCEEDED', 'TERMINAL'];
  return JSON.parse(
    JSON.stringify({
      version: Math.floor(r() * 10),
      status: statuses[Math.floor(r() * 4)],
      startTime: r() < 0.5 ? null : Math.floor(r() * 1000),
      endTime: r() < 0.5 ? null : Math.floor(r() * 1000),
      context: randomObject(r),
      outputs: randomObject(r),
      ancestorOutputs: r() < 0.3 ? null : randomObject(r),
      tasks: taskIds.map((id) => ({ id, name: id, implementingClass: 'x', status: statuses[Math.floor(r() * 4)], startTime: null, endTime: r() < 0.5 ? null : 5, stageStart: r() < 0.5, stageEnd: false, loopStart: false, loopEnd: false, taskExceptionDetails: randomObject(r), version: 0 })),
    }),
  ) as StageState;
}

describe('stage state diffs', () => {
  it('apply(prev, diff(prev, next)) == next for 2000 random pairs; unknown previous state gives a full change', () => {
    const r = rng(42);
    for (let i = 0; i < 2000; i++) {
      const ids = r() < 0.8 ? ['t1', 't2'] : ['t2', 't3'];
      const prev = randomState(r, ['t1', 't2']);
      const next = randomState(r, ids);
      const version = prev.version + 1;
      const change = diffStage(prev, next, version);
      expect(applyStageChange(prev, change)).toEqual({ ...next, version });
      expect(applyStageChange(randomState(r, ['zz']), diffStage(null, next, version))).toEqual({ ...next, version });
    }
  });

  it('an unchanged state gives only the version', () => {
    const r = rng(7);
    const s = randomState(r, ['a']);
    expect(diffStage(s, structuredClone(s), s.version + 1)).toEqual({ version: s.version + 1 });
  });
});
