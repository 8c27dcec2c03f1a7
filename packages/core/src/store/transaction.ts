import type { EventRecord } from '../events/event-store.js';
import type { Message } from '../messages/messages.js';
import type { Delivery } from './interfaces.js';
import type { StageExecution } from '../model/stage-execution.js';
import type { WorkflowStatus } from '../model/status.js';
import type { PausedDetails, Workflow } from '../model/workflow.js';

/** Workflow fields a handler may change after the workflow was stored. */
export interface WorkflowStateUpdate {
  status?: WorkflowStatus;
  startTime?: number | null;
  endTime?: number | null;
  isCanceled?: boolean;
  canceledBy?: string | null;
  cancellationReason?: string | null;
  paused?: PausedDetails | null;
}

export interface StageUpdate {
  stage: StageExecution;
  /** Compare-and-swap: the write only succeeds while the stored status is this one. */
  expectedStatus?: WorkflowStatus;
}

export interface WorkflowUpdate {
  workflowId: string;
  fields: WorkflowStateUpdate;
  /** Compare-and-swap on the stored workflow status. */
  expectedStatus?: WorkflowStatus;
}

export interface PendingMessage {
  message: Message;
  delayMs: number;
  /** False keeps the message out of the pushing worker's fast path (see `claimPushed`). */
  claimable: boolean;
  /**
   * Coalescing: while an undelivered message with the same key waits in the queue, this push may be
   * dropped (that message is handled after this commit and sees its writes). Stores may ignore it.
   */
  coalesceKey?: string;
}

/** The delivery a handler consumed: committing the transaction removes it from the queue. */
export interface ConsumedDelivery {
  deliveryId: string;
  leaseToken: string;
}

export interface ClaimRequest {
  executionId: string;
  claimKey: string;
  stageId: string;
  /** Take the claim over when its owner stage is complete or gone. */
  stealIfOwnerComplete: boolean;
}

/**
 * Waiting for a claim without polling (mutex wake-up). At commit, atomically with every claim change
 * of other transactions: if the claim `(executionId, claimKey)` is held by another stage whose row
 * exists and is not complete, remember `message` as a waiter of that claim (one waiter per stage; a
 * repeated wait replaces the message and keeps the place in line). Otherwise (no owner, owner is this
 * stage, owner complete or gone) `message` is pushed at once. So a wait can never miss a release.
 */
export interface ClaimWait {
  executionId: string;
  claimKey: string;
  stageId: string;
  message: Message;
}

/**
 * Releasing a claim. At commit: the claim row is deleted if `stageId` owns it. Then, if the key has no
 * owner (after this transaction's own acquisitions), the next waiter is woken: waiters are taken in
 * the order they started waiting; one whose stage row is gone or complete, or whose workflow is
 * complete, is forgotten; the first other one is forgotten too and its message is pushed (at most one
 * message per release). A release whose `stageId` does not own the claim (`''` by convention)
 * frees nothing and only passes the turn on when nobody holds the claim (see `handleStartStage`).
 */
export interface ClaimRelease {
  executionId: string;
  claimKey: string;
  stageId: string;
}

/**
 * Everything one handler changes, committed atomically by `WorkflowStore.commit`: version-checked
 * stage writes, workflow status changes, follow-up messages and the consumed delivery (the
 * "processed" mark). A crash before commit changes nothing; after commit, both state and the
 * messages that continue the work are there.
 */
export class Transaction {
  readonly stageInserts: StageExecution[] = [];
  readonly stageUpdates: StageUpdate[] = [];
  readonly workflowUpdates: WorkflowUpdate[] = [];
  readonly messages: PendingMessage[] = [];
  readonly claims: ClaimRequest[] = [];
  readonly claimWaits: ClaimWait[] = [];
  readonly claimReleases: ClaimRelease[] = [];
  readonly workflowInserts: Workflow[] = [];
  /** Event records for the event store, written in the same transaction (see EventRecorder). */
  readonly events: EventRecord[] = [];
  consumed: ConsumedDelivery | null = null;
  /**
   * Set by the processor, not by handlers: the first `limit` messages of this transaction that are
   * due at once are inserted already leased to this worker, so it can handle them without a poll.
   * A store that does not support it ignores the request (the messages are then polled as usual).
   */
  claimPushed: { leaseMs: number; limit: number } | null = null;
  /**
   * Set by the processor, not by handlers: this commit may share one database commit with other
   * handler commits (group commit). Stores that cannot group ignore it.
   */
  groupable = false;
  /** Filled by the store on commit: the deliveries `claimPushed` produced. */
  readonly claimed: Delivery[] = [];

  insertWorkflow(workflow: Workflow): this {
    this.workflowInserts.push(workflow);
    return this;
  }

  insertStage(stage: StageExecution): this {
    this.stageInserts.push(stage);
    return this;
  }

  /** Writes status, context, outputs, times and tasks of `stage` if its version is unchanged. */
  updateStage(stage: StageExecution, expectedStatus?: WorkflowStatus): this {
    const existing = this.stageUpdates.findIndex((u) => u.stage.id === stage.id);
    if (existing >= 0) this.stageUpdates.splice(existing, 1);
    this.stageUpdates.push(expectedStatus === undefined ? { stage } : { stage, expectedStatus });
    return this;
  }

  updateWorkflow(workflow: Pick<Workflow, 'id'>, fields: WorkflowStateUpdate, expectedStatus?: WorkflowStatus): this {
    this.workflowUpdates.push(expectedStatus === undefined ? { workflowId: workflow.id, fields } : { workflowId: workflow.id, fields, expectedStatus });
    return this;
  }

  push(message: Message, delayMs = 0, options: { claimable?: boolean; coalesceKey?: string } = {}): this {
    const pending: PendingMessage = { message, delayMs: Math.max(0, Math.round(delayMs)), claimable: options.claimable ?? true };
    if (options.coalesceKey) pending.coalesceKey = options.coalesceKey;
    this.messages.push(pending);
    return this;
  }

  /** Requires a claim row; the commit fails with ClaimBlockedError when another stage holds it. */
  acquireClaim(claim: ClaimRequest): this {
    this.claims.push(claim);
    return this;
  }

  /** See ClaimWait: wait for a claim; `wait.message` is delivered when the claim is free. */
  waitForClaim(wait: ClaimWait): this {
    this.claimWaits.push(wait);
    return this;
  }

  /** See ClaimRelease: give a claim up and wake its waiters. */
  releaseClaim(release: ClaimRelease): this {
    this.claimReleases.push(release);
    return this;
  }

  consume(delivery: ConsumedDelivery | null | undefined): this {
    if (delivery) this.consumed = delivery;
    return this;
  }

  isEmpty(): boolean {
    return (
      this.stageInserts.length === 0 &&
      this.stageUpdates.length === 0 &&
      this.workflowUpdates.length === 0 &&
      this.messages.length === 0 &&
      this.claims.length === 0 &&
      this.claimWaits.length === 0 &&
      this.claimReleases.length === 0 &&
      this.workflowInserts.length === 0 &&
      this.events.length === 0 &&
      this.consumed === null
    );
  }
}
