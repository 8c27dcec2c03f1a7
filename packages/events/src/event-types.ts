// The event vocabulary. Upstream type strings (persistence.md §5.2) are kept verbatim; the types
// marked NEW are ours. Payload keys of upstream types are upstream's (snake_case).
import type { EventRecord } from '@stabilize/core';

/** Schema version written into new events. Older events are upcast on read (see upcasting.ts). */
export const CURRENT_SCHEMA_VERSION = 1;

export const EventTypes = {
  // ---- workflow ------------------------------------------------------------------------------
  /** Workflow inserted. Upstream keys plus NEW `definition` (the whole workflow as stored) and `adopted`. */
  WORKFLOW_CREATED: 'workflow.created',
  WORKFLOW_STARTED: 'workflow.started',
  WORKFLOW_COMPLETED: 'workflow.completed',
  WORKFLOW_FAILED: 'workflow.failed',
  WORKFLOW_CANCELED: 'workflow.canceled',
  /** Emitted by the recorder when a transaction pauses a workflow (upstream: recorder API only). */
  WORKFLOW_PAUSED: 'workflow.paused',
  /** Emitted by the recorder when a transaction resumes a paused workflow. */
  WORKFLOW_RESUMED: 'workflow.resumed',
  /** NEW: a cancellation was requested (`is_canceled` set); `workflow.canceled` follows when it ends. */
  WORKFLOW_CANCEL_REQUESTED: 'workflow.cancel_requested',
  /**
   * NEW: the state written by one transaction to one workflow (its row, inserted stages, stage and
   * task writes), as changed fields. Replay folds these; audit consumers can ignore them.
   */
  WORKFLOW_CHANGED: 'workflow.changed',
  // ---- stage ---------------------------------------------------------------------------------
  STAGE_STARTED: 'stage.started',
  STAGE_COMPLETED: 'stage.completed',
  STAGE_FAILED: 'stage.failed',
  STAGE_SKIPPED: 'stage.skipped',
  STAGE_CANCELED: 'stage.canceled',
  // ---- task ----------------------------------------------------------------------------------
  TASK_STARTED: 'task.started',
  TASK_COMPLETED: 'task.completed',
  TASK_FAILED: 'task.failed',
  TASK_RETRIED: 'task.retried',
  // ---- any entity ----------------------------------------------------------------------------
  /** A status transition no handler event describes (e.g. PAUSED, SUSPENDED, BUFFERED, reset by a jump). */
  STATUS_CHANGED: 'status.changed',
  CONTEXT_UPDATED: 'context.updated',
  OUTPUTS_UPDATED: 'outputs.updated',
  JUMP_EXECUTED: 'jump.executed',
  CUSTOM_PROGRESS: 'custom.progress',
} as const;
export type EventType = (typeof EventTypes)[keyof typeof EventTypes];

/** Events that end a workflow. */
export const TERMINAL_WORKFLOW_EVENTS: ReadonlySet<string> = new Set([EventTypes.WORKFLOW_COMPLETED, EventTypes.WORKFLOW_FAILED, EventTypes.WORKFLOW_CANCELED]);

/** Events that carry replay state rather than describe a transition. */
export const STATE_EVENTS: ReadonlySet<string> = new Set([EventTypes.WORKFLOW_CHANGED]);

/** Whether `event` is a state event (`workflow.changed`): timelines and metrics skip these. */
export const isStateEvent = (event: Pick<EventRecord, 'eventType'>): boolean => STATE_EVENTS.has(event.eventType);
