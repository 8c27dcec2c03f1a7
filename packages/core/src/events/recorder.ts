import type { WorkflowStore } from '../store/interfaces.js';
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
  /**
   * Called with every transaction just before it is committed (after the handler built it). A
   * recorder may add events describing the transaction's writes; it may read `store` for context.
   */
  beforeCommit?(tx: Transaction, store: WorkflowStore): void | Promise<void>;
  /** Called after a transaction committed (e.g. to publish its events on an in-process bus). */
  afterCommit?(tx: Transaction): void;
}

export const noopEventRecorder: EventRecorder = {
  record() {},
};
