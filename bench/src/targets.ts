// The speed targets, checked on each result line: `target` names the goal, `met` says
// whether this run reached it, `missedBy` how far off it was (a factor) when it did not.
import type { CaseResult } from './measure.js';

export interface Verdict {
  target: string;
  met: boolean;
  missedBy?: string;
}

export type Line = Partial<CaseResult> & { backend: string; shape: string; ratioToRawPool?: number };

const atLeast = (target: string, value: number, goal: number): Verdict =>
  value >= goal ? { target, met: true } : { target, met: false, missedBy: `x${(goal / Math.max(value, 1e-9)).toFixed(2)}` };
const atMost = (target: string, value: number, goal: number): Verdict =>
  value <= goal ? { target, met: true } : { target, met: false, missedBy: `x${(value / goal).toFixed(2)}` };

/** The targets that apply to one result line (none for shapes without a target). */
export function verdicts(line: Line): Verdict[] {
  const out: Verdict[] = [];
  const rate = line.stagesPerSecond ?? 0;
  if (line.backend === 'sqlite-file' && (line.shape === 'chain' || line.shape === 'fanout') && (line.size ?? 0) >= 100) out.push(atLeast('>= 3000 stages/s', rate, 3000));
  if (line.backend === 'postgres-4w' && line.shape !== 'latency') out.push(atLeast('>= 1000 stages/s', rate, 1000));
  if (line.shape === 'latency' && line.backend === 'sqlite-file') out.push(atMost('p50 start latency <= 5 ms', line.p50StartLatencyMs ?? 0, 5));
  if (line.shape === 'latency' && line.backend.startsWith('postgres')) out.push(atMost('p50 start latency <= 20 ms', line.p50StartLatencyMs ?? 0, 20));
  if (line.shape === 'http32' && line.ratioToRawPool !== undefined) out.push(atMost('<= 3x the raw pool', line.ratioToRawPool, 3));
  if (line.shape === 'chain' && line.size === 10_000) out.push(atMost('peak RSS < 300 MB', line.peakRssMb ?? 0, 300));
  return out;
}

/** Per-stage cost at 10,000 stages within 1.5x of that at 100 (SQLite chains of one run). */
export function scalingVerdict(perStageMs100: number, perStageMs10k: number): Verdict {
  return atMost('per-stage cost at 10,000 <= 1.5x that at 100', perStageMs10k / perStageMs100, 1.5);
}
