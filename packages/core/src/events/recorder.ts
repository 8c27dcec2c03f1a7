import type { Transaction } from '../store/transaction.js';

export type EntityType = 'workflow' | 'stage' | 'task';

/** A state transition worth an audit record, as the handlers describe it. */
export interface EngineEvent {
  /** Dotted type, e.g. 'workflow.started', 'stage.completed', 'task.failed'. */
  eventType: string;
  entityType: EntityType;
  entityId: string;
  workflowId: string;
  /** Entity version after the transition. */
  version: number;
  data: Record<string, unknown>;
  /** Handler that produced the event, e.g. 'CompleteTaskHandler'. */
  sourceHandler: string;
  /** Epoch ms from the engine clock. */
  timestamp: number;
}

/**
 * Hook through which handlers report transitions. The recorder adds the events to the transaction
 * so the store writes them atomically with the state they describe. The default records nothing.
 */
export interface EventRecorder {
  record(tx: Transaction, event: EngineEvent): void;
  /** Called after a transaction with events committed (e.g. to publish on an in-process bus). */
  afterCommit?(tx: Transaction): void;
}

export const noopEventRecorder: EventRecorder = {
  record() {},
};
