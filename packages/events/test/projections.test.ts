// persistence.md §8.9 #73 (timeline) and #74 (stage metrics), on fixtures.
import type { EventRecord } from '@stabilize/core';
import { describe, expect, it } from 'vitest';
import { type Projection, StageMetricsProjection, WorkflowTimelineProjection } from '../src/index.js';
import { ev } from './support/events.js';

const T = 1_700_000_000_000;

function happy(w: string): EventRecord[] {
  return [
    ev(w, 'workflow.created', { timestamp: T, data: { application: 'app', type: 'PIPELINE', stage_count: 2 } }),
    ev(w, 'workflow.started', { timestamp: T + 10 }),
    ev(w, 'stage.started', { entityType: 'stage', entityId: 's1', timestamp: T + 20, data: { ref_id: 's1', name: 'Build', type: 'shell', is_synthetic: false, task_count: 1 } }),
    ev(w, 'stage.completed', { entityType: 'stage', entityId: 's1', timestamp: T + 120, data: { ref_id: 's1', name: 'Build', type: 'shell', status: 'SUCCEEDED' } }),
    ev(w, 'workflow.completed', { timestamp: T + 130, data: { status: 'SUCCEEDED' } }),
  ];
}

describe('WorkflowTimelineProjection (#73)', () => {
  it('the 5-event fixture: 5 entries, status, total duration, durations from start events, details', () => {
    const timeline = new WorkflowTimelineProjection('w1');
    for (const e of happy('w1')) timeline.apply(e);
    const state = timeline.getState();
    expect(timeline.name).toBe('workflow-timeline-w1');
    expect(state.entries).toHaveLength(5);
    expect(state.status).toBe('SUCCEEDED');
    expect(state.totalDurationMs).toBe(120);
    expect(timeline.getStages()).toHaveLength(2);
    expect(timeline.getStages()[1]).toMatchObject({ entityName: 'Build', status: 'SUCCEEDED', durationMs: 100 });
    expect(state.entries[0]!.details).toEqual({ application: 'app', type: 'PIPELINE', stage_count: 2 });
    expect(state.entries[2]!.details).toEqual({ type: 'shell', is_synthetic: false, task_count: 1 });
  });

  it('failures; other workflows ignored; the same stored event twice is one entry; state events skipped; reset', () => {
    const timeline = new WorkflowTimelineProjection('w2');
    const failing = [
      ev('w2', 'workflow.started', { timestamp: T }),
      ev('w2', 'task.failed', { entityType: 'task', entityId: 't', timestamp: T + 5, data: { name: 'compile', status: 'TERMINAL', error: 'boom', duration_ms: 4 } }),
      ev('w2', 'stage.failed', { entityType: 'stage', entityId: 's', timestamp: T + 6, data: { ref_id: 's', status: 'TERMINAL', error: 'boom' } }),
      ev('w2', 'workflow.changed', { timestamp: T + 6, data: {} }),
      ev('w2', 'status.changed', { timestamp: T + 6, data: { old_status: 'RUNNING', new_status: 'TERMINAL' } }),
    ];
    for (const e of [...failing, ...happy('other'), failing[1]!]) timeline.apply(e);
    expect(timeline.getState().entries).toHaveLength(3);
    expect(timeline.getFailures().map((e) => [e.eventType, e.details])).toEqual([
      ['task.failed', { error: 'boom' }],
      ['stage.failed', { error: 'boom' }],
    ]);
    expect(timeline.getTasks()[0]!.durationMs).toBe(4);
    timeline.apply(ev('w2', 'workflow.canceled', { timestamp: T + 50, data: { canceled_by: 'ann' } }));
    expect(timeline.getState()).toMatchObject({ status: 'CANCELED', totalDurationMs: 50 });
    expect(timeline.getFailures()).toHaveLength(3);
    timeline.reset();
    expect(timeline.getState()).toEqual({ workflowId: 'w2', entries: [], totalDurationMs: null, status: null, startTime: null, endTime: null });
  });
});

describe('StageMetricsProjection (#74)', () => {
  const stageEvent = (type: string, stageType: string, id: string, version: number, data: Record<string, unknown> = {}) => ev('w', type, { entityType: 'stage', entityId: id, version, data: { type: stageType, ...data } });

  it('counts executions per type; durations, min/max/median/avg; success rate', () => {
    const m = new StageMetricsProjection();
    m.apply(stageEvent('stage.started', 'shell', 's1', 1));
    m.apply(stageEvent('stage.started', 'shell', 's2', 1));
    m.apply(stageEvent('stage.started', 'python', 's3', 1));
    expect(m.getMetricsForType('shell')!.executionCount).toBe(2);
    expect(m.getMetricsForType('python')!.executionCount).toBe(1);
    for (const [i, d] of [100, 200, 300].entries()) m.apply(stageEvent('stage.completed', 'shell', `c${i}`, 2, { duration_ms: d }));
    const shell = m.getMetricsForType('shell')!;
    expect([shell.avgDurationMs, shell.minDurationMs, shell.maxDurationMs, shell.medianDurationMs]).toEqual([200, 100, 300, 200]);
    m.apply(stageEvent('stage.failed', 'shell', 'f1', 2, { duration_ms: 50 }));
    expect(m.getMetricsForType('shell')!.successRate).toBe(75);
    expect(m.getMetricsForType('shell')!.failureRate).toBe(25);
    expect(m.getTopSlowestStages(1)[0]!.stageType).toBe('shell');
    expect(m.getTopFailingStages()[0]!.stageType).toBe('shell');
  });

  it('de-duplicates the same (stage, type, version) and the same event id; different versions count twice', () => {
    const m = new StageMetricsProjection();
    const once = stageEvent('stage.started', 'shell', 's1', 1);
    m.apply(once);
    m.apply(once);
    m.apply(stageEvent('stage.started', 'shell', 's1', 1)); // same transition, another record
    expect(m.getMetricsForType('shell')!.executionCount).toBe(1);
    m.apply(stageEvent('stage.started', 'shell', 's1', 5)); // a re-run: a new version
    expect(m.getMetricsForType('shell')!.executionCount).toBe(2);
  });

  it('p95 and rounding; task metrics; reset', () => {
    const m = new StageMetricsProjection();
    const durations = Array.from({ length: 25 }, (_, i) => (i + 1) * 10 + 0.3333);
    for (const [i, d] of durations.entries()) m.apply(stageEvent('stage.completed', 'bulk', `b${i}`, 1, { duration_ms: d }));
    const bulk = m.getMetricsForType('bulk')!;
    expect(bulk.p95DurationMs).toBe([...durations].sort((a, b) => a - b)[23]);
    expect(bulk.toJSON()).toMatchObject({ avgDurationMs: 130.33, p95DurationMs: 240.33, minDurationMs: 10, maxDurationMs: 250, successRate: 100 });
    m.apply(ev('w', 'task.started', { entityType: 'task', entityId: 't1', data: { name: 'compile', implementing_class: 'shell' } }));
    m.apply(ev('w', 'task.completed', { entityType: 'task', entityId: 't1', data: { name: 'compile', duration_ms: 40 } }));
    m.apply(ev('w', 'task.retried', { entityType: 'task', entityId: 't1', data: { name: 'compile' } }));
    expect(m.getTaskMetricsForName('compile')!.toJSON()).toEqual({ taskName: 'compile', implementingClass: 'shell', executionCount: 1, successCount: 1, failureCount: 0, retryCount: 1, successRate: 100, avgDurationMs: 40 });
    expect(Object.keys(m.toJSON().stages)).toEqual(['bulk']);
    m.reset();
    expect(m.getState().size).toBe(0);
  });

  it('a projection of your own is a plain object with apply / getState / reset', () => {
    const failures = new Map<string, number>();
    const apps = new Map<string, string>();
    const projection: Projection<Map<string, number>> = {
      name: 'failures-per-application',
      apply(e) {
        if (e.eventType === 'workflow.created') apps.set(e.workflowId, String(e.data.application));
        if (e.eventType === 'workflow.failed') failures.set(apps.get(e.workflowId) ?? '?', (failures.get(apps.get(e.workflowId) ?? '?') ?? 0) + 1);
      },
      getState: () => new Map(failures),
      reset: () => failures.clear(),
    };
    for (const e of [ev('a', 'workflow.created', { data: { application: 'billing' } }), ev('a', 'workflow.failed')]) projection.apply(e);
    expect(projection.getState().get('billing')).toBe(1);
  });
});
