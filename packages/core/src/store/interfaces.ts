import type { Message } from '../messages/messages.js';
import type { StageExecution } from '../model/stage-execution.js';
import type { WorkflowStatus } from '../model/status.js';
import type { Workflow } from '../model/workflow.js';
import type { Transaction } from './transaction.js';

/** A lightweight view of a stage: enough for joins, completion and recovery decisions. */
export interface StageSummary {
  id: string;
  refId: string;
  status: WorkflowStatus;
  requisiteStageRefIds: string[];
  parentStageId: string | null;
  syntheticStageOwner: StageExecution['syntheticStageOwner'];
  context: Record<string, unknown>;
  outputs: Record<string, unknown>;
}

export interface WorkflowQuery {
  application?: string;
  pipelineConfigId?: string;
  statuses?: WorkflowStatus[];
  /** Only workflows whose start time is at or after this instant (or that never started). */
  startedAfter?: number;
  limit?: number;
  /**
   * Keyset pagination: only workflows after this id in the requested order (ids greater than it
   * with `order: 'asc'`, smaller with `order: 'desc'`).
   */
  afterId?: string;
  /**
   * Order by id, which is creation order (ids are monotonic ULIDs): `'asc'` (default) oldest first,
   * `'desc'` newest first.
   */
  order?: 'asc' | 'desc';
}

/**
 * The state side of a backend. Reads return detached objects; writes go through `commit`, which
 * applies a whole Transaction atomically, including the queue rows it pushes.
 */
export interface WorkflowStore {
  /** Inserts a new workflow with all its stages and tasks. */
  store(workflow: Workflow): Promise<void>;
  /** The whole workflow with every stage and task. Throws WorkflowNotFoundError. */
  retrieve(workflowId: string): Promise<Workflow>;
  /** The workflow row only (`stages` is empty). Throws WorkflowNotFoundError. */
  retrieveWorkflowOnly(workflowId: string): Promise<Workflow>;
  /** One stage with its tasks. Throws StageNotFoundError. */
  retrieveStage(stageId: string): Promise<StageExecution>;
  /**
   * Optional: a stage and its workflow row in one read (a network store saves a statement on every
   * task run). Throws StageNotFoundError when the stage is gone, WorkflowNotFoundError when only the
   * workflow is. Without it, the engine reads the two concurrently.
   */
  retrieveStageWithWorkflow?(stageId: string): Promise<{ stage: StageExecution; workflow: Workflow }>;
  /** Stages (with tasks) of one workflow by ref id; unknown ref ids are left out. */
  retrieveStagesByRefIds(workflowId: string, refIds: readonly string[]): Promise<StageExecution[]>;
  /** Stages (with tasks) that list `refId` as a requisite, in creation order. */
  retrieveDownstreamStages(workflowId: string, refId: string): Promise<StageExecution[]>;
  /** Synthetic children (with tasks) of a stage, in creation order. */
  retrieveSyntheticStages(parentStageId: string): Promise<StageExecution[]>;
  /** Summaries of every stage of a workflow, in creation order. */
  retrieveStageSummaries(workflowId: string): Promise<StageSummary[]>;
  /**
   * Summaries of every stage of several workflows in one query (dashboards): a map from each
   * requested workflow id to its stages in creation order; unknown ids map to an empty list.
   */
  retrieveStageSummariesFor(workflowIds: readonly string[]): Promise<Map<string, StageSummary[]>>;
  /** Number of workflows with this pipelineConfigId in the given status. */
  countWorkflows(query: WorkflowQuery): Promise<number>;
  /**
   * How many workflows there are in each status, in one grouped query (dashboards): the whole
   * database, or one application's workflows. Statuses with no workflow are left out.
   */
  countWorkflowsByStatus(query?: { application?: string }): Promise<Partial<Record<WorkflowStatus, number>>>;
  /** Workflow rows (without stages) matching the query, ordered by id (`query.order`, default ascending). */
  listWorkflows(query: WorkflowQuery): Promise<Workflow[]>;
  /** Applies every change of the transaction atomically. Throws ConcurrencyError on a version conflict. */
  commit(tx: Transaction): Promise<void>;
  /** Makes every commit so far durable (stores with group commit); resolves at once otherwise. */
  flush?(): Promise<void>;
  close(): Promise<void>;
}

/** A message as delivered to one worker. */
export interface Delivery {
  /** Queue row id (unique, never reused). */
  id: string;
  message: Message;
  /** How many times this row has been delivered, this delivery included. */
  attempts: number;
  maxAttempts: number;
  /** Proves ownership of the lease; ack / extend / reschedule check it. */
  leaseToken: string;
  /** When the row became deliverable (epoch ms). */
  deliverAt: number;
}

export interface PollOptions {
  /** At most this many messages. */
  limit: number;
  /** How long the claim stays exclusive without a heartbeat. */
  leaseMs: number;
}

export interface DeadLetter {
  id: string;
  originalId: string;
  messageType: string;
  message: Message | null;
  payload: string;
  attempts: number;
  error: string;
  movedAt: number;
}

export interface PushOptions {
  delayMs?: number;
  maxAttempts?: number;
}

/**
 * The queue at one instant (`Queue.stats`). Every queued row is in exactly one of `ready`,
 * `delayed` and `processing`, so their sum is `Queue.size()`.
 */
export interface QueueStats {
  /** Due and not leased (or its lease expired): a poll would claim it now. */
  ready: number;
  /** Not due yet (pushed with a delay or rescheduled) and not leased. */
  delayed: number;
  /** Leased by a worker whose lease has not expired: in flight. */
  processing: number;
  /** Rows in the dead letter queue. */
  deadLetters: number;
}

/** The durable message queue. Rows pushed by `WorkflowStore.commit` live in the same database. */
export interface Queue {
  push(message: Message, options?: PushOptions): Promise<void>;
  /** Claims up to `limit` deliverable messages, oldest first, for `leaseMs`. */
  poll(options: PollOptions): Promise<Delivery[]>;
  /** Deletes the row if this delivery still holds its lease. */
  ack(delivery: Delivery): Promise<boolean>;
  /** Releases the row to be delivered again after `delayMs`; moves it to the DLQ when attempts are used up. */
  reschedule(delivery: Delivery, delayMs: number, error?: string): Promise<boolean>;
  /** Heartbeat: extends the lease. False when the lease was lost. */
  extendLease(delivery: Delivery, leaseMs: number): Promise<boolean>;
  /** All rows, including delayed and leased ones. */
  size(): Promise<number>;
  /** Epoch ms at which the next row becomes deliverable (null when the queue is empty). */
  nextDeliveryTime(): Promise<number | null>;
  /**
   * Resolves when a message may be deliverable (a push happened, here or in another process) or
   * after `maxWaitMs`, whichever comes first. Never resolves later than the abort signal.
   */
  waitForMessages(maxWaitMs: number, signal?: AbortSignal): Promise<void>;
  hasPendingMessageForTask(taskId: string): Promise<boolean>;
  moveToDeadLetters(delivery: Delivery, error: string): Promise<void>;
  listDeadLetters(options?: { limit?: number; messageType?: string }): Promise<DeadLetter[]>;
  /** Puts a dead letter back on the queue with a fresh attempt count. */
  replayDeadLetter(id: string): Promise<boolean>;
  deadLetterCount(): Promise<number>;
  /** Ready, delayed, processing and dead letter counts, read in one query (at the queue's clock). */
  stats(): Promise<QueueStats>;
  clearDeadLetters(): Promise<number>;
  close(): Promise<void>;
}
