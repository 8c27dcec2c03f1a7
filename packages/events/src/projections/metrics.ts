// StageMetricsProjection (persistence.md §5.9): execution counts, success rates and durations per
// stage type and per task name, across workflows. One logical transition counts once even when its
// event is delivered twice: events are de-duplicated by event id, and stage events also by (stage,
// type, version) as upstream does.
import type { EventRecord } from '@stabilize/core';
import { EventTypes } from '../event-types.js';
import type { Projection } from './projection.js';

const round2 = (n: number): number => Math.round(n * 100) / 100;

function median(sorted: readonly number[]): number {
  if (sorted.length === 0) return 0;
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

export class StageMetrics {
  executionCount = 0;
  successCount = 0;
  failureCount = 0;
  skipCount = 0;
  readonly durations: number[] = [];

  constructor(readonly stageType: string) {}

  get successRate(): number {
    const n = this.successCount + this.failureCount;
    return n === 0 ? 0 : (this.successCount / n) * 100;
  }
  get failureRate(): number {
    const n = this.successCount + this.failureCount;
    return n === 0 ? 0 : (this.failureCount / n) * 100;
  }
  get avgDurationMs(): number {
    return this.durations.length === 0 ? 0 : this.durations.reduce((a, b) => a + b, 0) / this.durations.length;
  }
  get medianDurationMs(): number {
    return median([...this.durations].sort((a, b) => a - b));
  }
  /** Fewer than 20 samples: the maximum; else the sorted value at floor(n * 0.95). */
  get p95DurationMs(): number {
    const sorted = [...this.durations].sort((a, b) => a - b);
    if (sorted.length === 0) return 0;
    if (sorted.length < 20) return sorted[sorted.length - 1]!;
    return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * 0.95))]!;
  }
  get minDurationMs(): number {
    return this.durations.length === 0 ? 0 : Math.min(...this.durations);
  }
  get maxDurationMs(): number {
    return this.durations.length === 0 ? 0 : Math.max(...this.durations);
  }

  toJSON(): Record<string, unknown> {
    return {
      stageType: this.stageType,
      executionCount: this.executionCount,
      successCount: this.successCount,
      failureCount: this.failureCount,
      skipCount: this.skipCount,
      successRate: round2(this.successRate),
      failureRate: round2(this.failureRate),
      avgDurationMs: round2(this.avgDurationMs),
      medianDurationMs: round2(this.medianDurationMs),
      p95DurationMs: round2(this.p95DurationMs),
      minDurationMs: Math.round(this.minDurationMs),
      maxDurationMs: Math.round(this.maxDurationMs),
    };
  }
}

export class TaskMetrics {
  implementingClass: string | null = null;
  executionCount = 0;
  successCount = 0;
  failureCount = 0;
  retryCount = 0;
  readonly durations: number[] = [];

  constructor(readonly taskName: string) {}

  get successRate(): number {
    const n = this.successCount + this.failureCount;
    return n === 0 ? 0 : (this.successCount / n) * 100;
  }
  get avgDurationMs(): number {
    return this.durations.length === 0 ? 0 : this.durations.reduce((a, b) => a + b, 0) / this.durations.length;
  }

  toJSON(): Record<string, unknown> {
    return {
      taskName: this.taskName,
      implementingClass: this.implementingClass,
      executionCount: this.executionCount,
      successCount: this.successCount,
      failureCount: this.failureCount,
      retryCount: this.retryCount,
      successRate: round2(this.successRate),
      avgDurationMs: round2(this.avgDurationMs),
    };
  }
}

export class StageMetricsProjection implements Projection<Map<string, StageMetrics>> {
  readonly name = 'stage-metrics';
  private stages = new Map<string, StageMetrics>();
  private tasks = new Map<string, TaskMetrics>();
  private readonly seen = new Set<string>();

  apply(event: EventRecord): void {
    // The same event delivered again (same id), or the same stage transition recorded twice (same
    // stage version). Task versions never change, so tasks de-duplicate by event id only.
    const keys = [`\u0000${event.eventId}`];
    if (event.entityType === 'stage' && event.version) keys.push(`${event.entityId}\u0000${event.eventType}\u0000${event.version}`);
    if (keys.some((k) => this.seen.has(k))) return;
    for (const k of keys) this.seen.add(k);
    const data = event.data;
    const duration = typeof data.duration_ms === 'number' ? data.duration_ms : null;
    if (event.entityType === 'stage') {
      const type = typeof data.type === 'string' && data.type !== '' ? data.type : 'unknown';
      const m = this.stageMetrics(type);
      switch (event.eventType) {
        case EventTypes.STAGE_STARTED:
          m.executionCount += 1;
          break;
        case EventTypes.STAGE_COMPLETED:
          m.successCount += 1;
          if (duration !== null) m.durations.push(duration);
          break;
        case EventTypes.STAGE_FAILED:
          m.failureCount += 1;
          if (duration !== null) m.durations.push(duration);
          break;
        case EventTypes.STAGE_SKIPPED:
          m.skipCount += 1;
          break;
      }
    } else if (event.entityType === 'task') {
      const name = typeof data.name === 'string' && data.name !== '' ? data.name : 'unknown';
      const m = this.taskMetrics(name);
      if (m.implementingClass === null && typeof data.implementing_class === 'string') m.implementingClass = data.implementing_class;
      switch (event.eventType) {
        case EventTypes.TASK_STARTED:
          m.executionCount += 1;
          break;
        case EventTypes.TASK_COMPLETED:
          m.successCount += 1;
          if (duration !== null) m.durations.push(duration);
          break;
        case EventTypes.TASK_FAILED:
          m.failureCount += 1;
          if (duration !== null) m.durations.push(duration);
          break;
        case EventTypes.TASK_RETRIED:
          m.retryCount += 1;
          break;
      }
    }
  }

  private stageMetrics(type: string): StageMetrics {
    let m = this.stages.get(type);
    if (!m) this.stages.set(type, (m = new StageMetrics(type)));
    return m;
  }

  private taskMetrics(name: string): TaskMetrics {
    let m = this.tasks.get(name);
    if (!m) this.tasks.set(name, (m = new TaskMetrics(name)));
    return m;
  }

  getState(): Map<string, StageMetrics> {
    return new Map(this.stages);
  }

  getTaskState(): Map<string, TaskMetrics> {
    return new Map(this.tasks);
  }

  getMetricsForType(stageType: string): StageMetrics | undefined {
    return this.stages.get(stageType);
  }

  getTaskMetricsForName(taskName: string): TaskMetrics | undefined {
    return this.tasks.get(taskName);
  }

  /** Stage types with at least one duration, slowest average first. */
  getTopSlowestStages(n = 10): StageMetrics[] {
    return [...this.stages.values()]
      .filter((m) => m.durations.length > 0)
      .sort((a, b) => b.avgDurationMs - a.avgDurationMs)
      .slice(0, n);
  }

  /** Stage types that ran, highest failure rate first. */
  getTopFailingStages(n = 10): StageMetrics[] {
    return [...this.stages.values()]
      .filter((m) => m.executionCount > 0)
      .sort((a, b) => b.failureRate - a.failureRate)
      .slice(0, n);
  }

  toJSON(): { stages: Record<string, unknown>; tasks: Record<string, unknown> } {
    return {
      stages: Object.fromEntries([...this.stages].map(([k, m]) => [k, m.toJSON()])),
      tasks: Object.fromEntries([...this.tasks].map(([k, m]) => [k, m.toJSON()])),
    };
  }

  reset(): void {
    this.stages = new Map();
    this.tasks = new Map();
    this.seen.clear();
  }
}
