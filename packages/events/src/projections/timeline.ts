// WorkflowTimelineProjection (persistence.md §5.9): one workflow's events as a human-readable
// timeline with durations. Events of other workflows are ignored, a redelivered event (same
// eventId) counts once, and the state-only events are left out.
import type { EntityType, EventRecord } from '@stabilize/core';
import { EventTypes } from '../event-types.js';
import type { Projection } from './projection.js';

export interface TimelineEntry {
  timestamp: number;
  sequence: number;
  eventType: string;
  entityType: EntityType;
  entityId: string;
  /** `data.name`, else `data.ref_id`. */
  entityName: string | null;
  status: string | null;
  durationMs: number | null;
  details: Record<string, unknown>;
}

export interface WorkflowTimeline {
  workflowId: string;
  entries: TimelineEntry[];
  totalDurationMs: number | null;
  status: string | null;
  startTime: number | null;
  endTime: number | null;
}

const NO_ENTRY: ReadonlySet<string> = new Set([EventTypes.STATUS_CHANGED, EventTypes.CONTEXT_UPDATED, EventTypes.OUTPUTS_UPDATED, EventTypes.WORKFLOW_CHANGED]);
const STARTS: ReadonlySet<string> = new Set([EventTypes.WORKFLOW_STARTED, EventTypes.STAGE_STARTED, EventTypes.TASK_STARTED]);
const ENDS: ReadonlySet<string> = new Set([
  EventTypes.WORKFLOW_COMPLETED,
  EventTypes.WORKFLOW_FAILED,
  EventTypes.WORKFLOW_CANCELED,
  EventTypes.STAGE_COMPLETED,
  EventTypes.STAGE_FAILED,
  EventTypes.STAGE_CANCELED,
  EventTypes.TASK_COMPLETED,
  EventTypes.TASK_FAILED,
]);
const FAILURES: ReadonlySet<string> = new Set([EventTypes.STAGE_FAILED, EventTypes.TASK_FAILED, EventTypes.WORKFLOW_FAILED, EventTypes.WORKFLOW_CANCELED]);

const str = (value: unknown): string | null => (typeof value === 'string' ? value : null);

export class WorkflowTimelineProjection implements Projection<WorkflowTimeline> {
  readonly name: string;
  private entries: TimelineEntry[] = [];
  private readonly seen = new Set<string>();
  private readonly started = new Map<string, number>();
  private status: string | null = null;
  private startTime: number | null = null;
  private endTime: number | null = null;

  constructor(readonly workflowId: string) {
    this.name = `workflow-timeline-${workflowId}`;
  }

  apply(event: EventRecord): void {
    if (event.workflowId !== this.workflowId || this.seen.has(event.eventId)) return;
    this.seen.add(event.eventId);
    if (NO_ENTRY.has(event.eventType)) return;
    const data = event.data;
    const key = `${event.entityType}:${event.entityId}`;
    if (STARTS.has(event.eventType)) this.started.set(key, event.timestamp);
    let durationMs: number | null = null;
    if (ENDS.has(event.eventType)) {
      if (typeof data.duration_ms === 'number') durationMs = data.duration_ms;
      else if (this.started.has(key)) durationMs = event.timestamp - this.started.get(key)!;
    }
    const canceled = event.eventType === EventTypes.WORKFLOW_CANCELED || event.eventType === EventTypes.STAGE_CANCELED;
    const status = str(data.status) ?? (canceled ? 'CANCELED' : null);
    this.entries.push({
      timestamp: event.timestamp,
      sequence: event.sequence,
      eventType: event.eventType,
      entityType: event.entityType,
      entityId: event.entityId,
      entityName: str(data.name) ?? str(data.ref_id),
      status,
      durationMs,
      details: details(event),
    });
    if (event.eventType === EventTypes.WORKFLOW_STARTED) this.startTime = event.timestamp;
    if (event.entityType === 'workflow' && ENDS.has(event.eventType)) {
      this.endTime = event.timestamp;
      this.status = status; // upstream leaves a canceled workflow's status empty; it is CANCELED here
    }
  }

  getState(): WorkflowTimeline {
    return {
      workflowId: this.workflowId,
      entries: [...this.entries].sort((a, b) => a.sequence - b.sequence || a.timestamp - b.timestamp),
      totalDurationMs: this.startTime !== null && this.endTime !== null ? this.endTime - this.startTime : null,
      status: this.status,
      startTime: this.startTime,
      endTime: this.endTime,
    };
  }

  getStages(): TimelineEntry[] {
    return this.getState().entries.filter((e) => e.entityType === 'stage');
  }

  getTasks(): TimelineEntry[] {
    return this.getState().entries.filter((e) => e.entityType === 'task');
  }

  getFailures(): TimelineEntry[] {
    return this.getState().entries.filter((e) => FAILURES.has(e.eventType));
  }

  reset(): void {
    this.entries = [];
    this.seen.clear();
    this.started.clear();
    this.status = this.startTime = this.endTime = null;
  }
}

function details(event: EventRecord): Record<string, unknown> {
  const d = event.data;
  switch (event.eventType) {
    case EventTypes.WORKFLOW_CREATED:
      return { application: d.application, type: d.type, stage_count: d.stage_count };
    case EventTypes.STAGE_STARTED:
      return { type: d.type, is_synthetic: d.is_synthetic, task_count: d.task_count };
    case EventTypes.STAGE_FAILED:
    case EventTypes.TASK_FAILED:
      return { error: d.error };
    case EventTypes.STAGE_SKIPPED:
      return { reason: d.reason };
    default:
      return {};
  }
}
