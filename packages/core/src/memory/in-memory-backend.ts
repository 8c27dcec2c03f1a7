import { randomUUID } from 'node:crypto';
import { type Clock, systemClock } from '../clock.js';
import { ClaimBlockedError, ConcurrencyError, LeaseLostError, StageNotFoundError, WorkflowNotFoundError } from '../errors.js';
import type { EventRecord, EventSnapshot, EventStore, ReadAllEventsOptions, ReadWorkflowEventsOptions } from '../events/event-store.js';
import type { Message } from '../messages/messages.js';
import type { StageExecution } from '../model/stage-execution.js';
import { isComplete, type WorkflowStatus } from '../model/status.js';
import { Workflow } from '../model/workflow.js';
import type { DeadLetter, Delivery, PollOptions, PushOptions, Queue, QueueStats, StageSummary, WorkflowQuery, WorkflowStore } from '../store/interfaces.js';
import type { Transaction } from '../store/transaction.js';

interface QueueRow {
  id: number;
  message: Message;
  deliverAt: number;
  leaseUntil: number | null;
  leaseToken: string | null;
  attempts: number;
  maxAttempts: number;
  lastError: string | null;
  coalesceKey?: string;
}

/**
 * The shared state behind an in-memory store and queue, so a commit can write state and push
 * messages atomically. Everything is copied in and out: callers never share objects with it.
 */
export class InMemoryDatabase {
  readonly workflows = new Map<string, Workflow>();
  readonly stages = new Map<string, StageExecution>();
  readonly stageIdsByWorkflow = new Map<string, string[]>();
  /** Indexes over the (immutable) structure of stages: workflow -> refId -> stage ids. */
  readonly stageIdsByRef = new Map<string, Map<string, string[]>>();
  readonly downstreamIdsByRef = new Map<string, Map<string, string[]>>();
  readonly childIdsByParent = new Map<string, string[]>();
  readonly rows = new Map<number, QueueRow>();
  readonly deadLetters = new Map<number, DeadLetter>();
  readonly claims = new Map<string, string>();
  /** Waiters per claim key (`scope|claimKey`): stage id -> message to push on release, in arrival order. */
  readonly claimWaiters = new Map<string, Map<string, Message>>();
  /** Event records written by commits and appends, in position order (see @stabilize/events). */
  readonly events: EventRecord[] = [];
  readonly eventSequences = new Map<string, number>();
  readonly snapshots: EventSnapshot[] = [];
  readonly checkpoints = new Map<string, number>();

  readonly eventIds = new Set<string>();

  /** Throws ConcurrencyError when an event id is already stored (or repeated in `events`). */
  checkEventIds(events: readonly EventRecord[]): void {
    const seen = new Set<string>();
    for (const { eventId } of events) {
      if (this.eventIds.has(eventId) || seen.has(eventId)) throw new ConcurrencyError(`Event ${eventId} is already stored`);
      seen.add(eventId);
    }
  }

  /** Assigns per-workflow sequence and global position, then stores copies. */
  appendEvents(events: readonly EventRecord[]): EventRecord[] {
    this.checkEventIds(events);
    return events.map((event) => {
      this.eventIds.add(event.eventId);
      const sequence = (this.eventSequences.get(event.workflowId) ?? 0) + 1;
      this.eventSequences.set(event.workflowId, sequence);
      const stored = { ...structuredClone(event), sequence, position: this.events.length + 1 };
      this.events.push(stored);
      return structuredClone(stored);
    });
  }
  private nextRowId = 1;
  private nextDeadLetterId = 1;
  private waiters = new Set<() => void>();

  constructor(readonly clock: Clock = systemClock) {}

  /** Coalescing keys of rows not delivered yet. */
  readonly pendingKeys = new Set<string>();

  insertRow(message: Message, delayMs: number, maxAttempts: number, leaseMs?: number, coalesceKey?: string): Delivery | undefined {
    const id = this.nextRowId++;
    const now = this.clock.now();
    const leased = leaseMs !== undefined;
    const row: QueueRow = { id, message: structuredClone(message), deliverAt: now + delayMs, leaseUntil: leased ? now + leaseMs : null, leaseToken: leased ? randomUUID() : null, attempts: leased ? 1 : 0, maxAttempts, lastError: null };
    if (coalesceKey !== undefined && !leased) {
      row.coalesceKey = coalesceKey;
      this.pendingKeys.add(coalesceKey);
    }
    this.rows.set(id, row);
    if (!leased) return undefined;
    return { id: String(id), message: structuredClone(message), attempts: 1, maxAttempts, leaseToken: row.leaseToken!, deliverAt: row.deliverAt };
  }

  moveToDeadLetters(row: QueueRow, error: string): void {
    this.rows.delete(row.id);
    if (row.coalesceKey !== undefined) this.pendingKeys.delete(row.coalesceKey);
    const id = this.nextDeadLetterId++;
    this.deadLetters.set(id, {
      id: String(id),
      originalId: String(row.id),
      messageType: row.message.type,
      message: structuredClone(row.message),
      payload: JSON.stringify(row.message),
      attempts: row.attempts,
      error,
      movedAt: this.clock.now(),
    });
  }

  /** Bumped on every wake-up, so a waiter can tell it missed one since it last polled. */
  signal = 0;

  wake(): void {
    this.signal++;
    const waiters = [...this.waiters];
    this.waiters.clear();
    for (const w of waiters) w();
  }

  waitForChange(maxWaitMs: number, signal?: AbortSignal): Promise<void> {
    if (signal?.aborted) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.waiters.delete(done);
        signal?.removeEventListener('abort', done);
        resolve();
      };
      const timer = setTimeout(done, Math.max(0, maxWaitMs));
      this.waiters.add(done);
      signal?.addEventListener('abort', done, { once: true });
    });
  }
}

const copyWorkflowRow = (w: Workflow) =>
  new Workflow({ ...w, stages: [], context: structuredClone(w.context), trigger: structuredClone(w.trigger), paused: w.paused ? { ...w.paused } : null });

function summaryOf(s: StageExecution): StageSummary {
  return {
    id: s.id,
    refId: s.refId,
    status: s.status,
    requisiteStageRefIds: [...s.requisiteStageRefIds],
    parentStageId: s.parentStageId,
    syntheticStageOwner: s.syntheticStageOwner,
    context: structuredClone(s.context),
    outputs: structuredClone(s.outputs),
  };
}

export class InMemoryWorkflowStore implements WorkflowStore {
  readonly db: InMemoryDatabase;

  /** Pass the queue (or its database) so commits push into that queue. */
  constructor(shared?: InMemoryQueue | InMemoryDatabase) {
    this.db = shared instanceof InMemoryQueue ? shared.db : (shared ?? new InMemoryDatabase());
  }

  async store(workflow: Workflow): Promise<void> {
    workflow.validate();
    if (this.db.workflows.has(workflow.id)) throw new ConcurrencyError(`Workflow ${workflow.id} is already stored`);
    this.insertWorkflow(workflow);
  }

  private insertWorkflow(workflow: Workflow): void {
    this.db.workflows.set(workflow.id, copyWorkflowRow({ ...workflow, createdAt: workflow.createdAt ?? this.db.clock.now() } as Workflow));
    this.db.stageIdsByWorkflow.set(workflow.id, []);
    for (const stage of workflow.stages) this.insertStage(workflow.id, stage);
  }

  private insertStage(workflowId: string, stage: StageExecution): void {
    const copy = stage.clone();
    copy.executionId = workflowId;
    this.db.stages.set(copy.id, copy);
    this.db.stageIdsByWorkflow.get(workflowId)?.push(copy.id);
    const add = (index: Map<string, Map<string, string[]>>, key: string) => {
      let byKey = index.get(workflowId);
      if (!byKey) index.set(workflowId, (byKey = new Map()));
      byKey.get(key)?.push(copy.id) ?? byKey.set(key, [copy.id]);
    };
    add(this.db.stageIdsByRef, copy.refId);
    for (const r of copy.requisiteStageRefIds) add(this.db.downstreamIdsByRef, r);
    if (copy.parentStageId !== null) {
      const children = this.db.childIdsByParent.get(copy.parentStageId);
      if (children) children.push(copy.id);
      else this.db.childIdsByParent.set(copy.parentStageId, [copy.id]);
    }
  }

  private cloneAll(ids: readonly string[] | undefined): StageExecution[] {
    return (ids ?? []).map((id) => this.db.stages.get(id)!.clone());
  }

  async retrieve(workflowId: string): Promise<Workflow> {
    const workflow = await this.retrieveWorkflowOnly(workflowId);
    for (const id of this.db.stageIdsByWorkflow.get(workflowId) ?? []) workflow.stages.push(this.db.stages.get(id)!.clone());
    return workflow;
  }

  async retrieveWorkflowOnly(workflowId: string): Promise<Workflow> {
    const row = this.db.workflows.get(workflowId);
    if (!row) throw new WorkflowNotFoundError(workflowId);
    return copyWorkflowRow(row);
  }

  async retrieveStageWithWorkflow(stageId: string): Promise<{ stage: StageExecution; workflow: Workflow }> {
    const stage = await this.retrieveStage(stageId);
    return { stage, workflow: await this.retrieveWorkflowOnly(stage.executionId) };
  }

  async retrieveStage(stageId: string): Promise<StageExecution> {
    const stage = this.db.stages.get(stageId);
    if (!stage) throw new StageNotFoundError(stageId);
    return stage.clone();
  }

  private stagesOf(workflowId: string): StageExecution[] {
    return (this.db.stageIdsByWorkflow.get(workflowId) ?? []).map((id) => this.db.stages.get(id)!);
  }

  async retrieveStagesByRefIds(workflowId: string, refIds: readonly string[]): Promise<StageExecution[]> {
    const byRef = this.db.stageIdsByRef.get(workflowId);
    return this.cloneAll([...new Set(refIds)].flatMap((r) => byRef?.get(r) ?? []));
  }

  async retrieveDownstreamStages(workflowId: string, refId: string): Promise<StageExecution[]> {
    return this.cloneAll(this.db.downstreamIdsByRef.get(workflowId)?.get(refId));
  }

  async retrieveSyntheticStages(parentStageId: string): Promise<StageExecution[]> {
    return this.cloneAll(this.db.childIdsByParent.get(parentStageId));
  }

  async retrieveStageSummaries(workflowId: string): Promise<StageSummary[]> {
    return this.stagesOf(workflowId).map(summaryOf);
  }

  async retrieveStageSummariesFor(workflowIds: readonly string[]): Promise<Map<string, StageSummary[]>> {
    return new Map(workflowIds.map((id) => [id, this.stagesOf(id).map(summaryOf)]));
  }

  private matching(query: WorkflowQuery): Workflow[] {
    const statuses = query.statuses ? new Set(query.statuses) : null;
    const desc = query.order === 'desc';
    return [...this.db.workflows.values()]
      .filter(
        (w) =>
          (query.application === undefined || w.application === query.application) &&
          (query.pipelineConfigId === undefined || w.pipelineConfigId === query.pipelineConfigId) &&
          (statuses === null || statuses.has(w.status)) &&
          (query.startedAfter === undefined || w.startTime === null || w.startTime >= query.startedAfter) &&
          (query.afterId === undefined || (desc ? w.id < query.afterId : w.id > query.afterId)),
      )
      .sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0) * (desc ? -1 : 1));
  }

  async countWorkflows(query: WorkflowQuery): Promise<number> {
    return this.matching(query).length;
  }

  async countWorkflowsByStatus(query: { application?: string } = {}): Promise<Partial<Record<WorkflowStatus, number>>> {
    const counts: Partial<Record<WorkflowStatus, number>> = {};
    for (const w of this.matching(query.application === undefined ? {} : { application: query.application })) counts[w.status] = (counts[w.status] ?? 0) + 1;
    return counts;
  }

  async listWorkflows(query: WorkflowQuery): Promise<Workflow[]> {
    return this.matching(query)
      .slice(0, query.limit ?? 100)
      .map(copyWorkflowRow);
  }

  /** Validates every precondition first, then applies all changes: all or nothing. */
  async commit(tx: Transaction): Promise<void> {
    const db = this.db;
    if (tx.consumed) {
      const row = db.rows.get(Number(tx.consumed.deliveryId));
      if (!row || row.leaseToken !== tx.consumed.leaseToken) throw new LeaseLostError(`Message ${tx.consumed.deliveryId} is no longer held by this worker`);
    }
    for (const w of tx.workflowInserts) if (db.workflows.has(w.id)) throw new ConcurrencyError(`Workflow ${w.id} is already stored`);
    for (const { stage, expectedStatus } of tx.stageUpdates) {
      const current = db.stages.get(stage.id);
      if (!current) {
        if (tx.stageInserts.some((s) => s.id === stage.id)) continue;
        throw new StageNotFoundError(stage.id);
      }
      if (current.version !== stage.version || (expectedStatus !== undefined && current.status !== expectedStatus)) {
        throw new ConcurrencyError(`Stage ${stage.id} changed concurrently (version ${current.version}, status ${current.status})`);
      }
    }
    for (const { workflowId, expectedStatus } of tx.workflowUpdates) {
      const current = db.workflows.get(workflowId);
      if (!current) throw new WorkflowNotFoundError(workflowId);
      if (expectedStatus !== undefined && current.status !== expectedStatus) throw new ConcurrencyError(`Workflow ${workflowId} is ${current.status}, expected ${expectedStatus}`);
    }
    db.checkEventIds(tx.events);
    const claimsToTake: Array<[string, string]> = [];
    for (const claim of tx.claims) {
      const key = `${claim.executionId}|${claim.claimKey}`;
      const owner = db.claims.get(key);
      if (owner !== undefined && owner !== claim.stageId) {
        const ownerStage = db.stages.get(owner);
        const stealable = claim.stealIfOwnerComplete && (!ownerStage || isComplete(ownerStage.status));
        if (!stealable) throw new ClaimBlockedError(claim.claimKey, owner);
      }
      claimsToTake.push([key, claim.stageId]);
    }

    // Apply.
    for (const w of tx.workflowInserts) this.insertWorkflow(w);
    for (const [key, stageId] of claimsToTake) db.claims.set(key, stageId);
    for (const { workflowId, fields } of tx.workflowUpdates) {
      const current = db.workflows.get(workflowId)!;
      Object.assign(current, structuredClone(fields));
    }
    for (const stage of tx.stageInserts) {
      if (!db.stageIdsByWorkflow.has(stage.executionId)) throw new WorkflowNotFoundError(stage.executionId);
      this.insertStage(stage.executionId, stage);
    }
    for (const { stage } of tx.stageUpdates) {
      const current = db.stages.get(stage.id)!;
      if (tx.stageInserts.some((s) => s.id === stage.id)) continue;
      // Structure and configuration are written once at insert; updates change state only.
      const s = stage.clone();
      const copy = current.clone();
      Object.assign(copy, { status: s.status, context: s.context, outputs: s.outputs, startTime: s.startTime, endTime: s.endTime, ancestorOutputs: s.ancestorOutputs, tasks: s.tasks, version: current.version + 1 });
      db.stages.set(stage.id, copy);
    }
    for (const { stage } of tx.stageUpdates) if (!tx.stageInserts.some((i) => i.id === stage.id)) stage.version += 1;
    let claimable = tx.claimPushed?.limit ?? 0;
    for (const { message, delayMs, claimable: allowed, coalesceKey } of tx.messages) {
      if (coalesceKey !== undefined && db.pendingKeys.has(coalesceKey)) continue;
      const claim = claimable > 0 && delayMs === 0 && allowed ? tx.claimPushed!.leaseMs : undefined;
      const delivery = db.insertRow(message, delayMs, 10, claim, coalesceKey);
      if (delivery) {
        tx.claimed.push(delivery);
        claimable--;
      }
    }
    let woken = false;
    for (const release of tx.claimReleases) {
      const key = `${release.executionId}|${release.claimKey}`;
      if (db.claims.get(key) === release.stageId) db.claims.delete(key);
      const waiters = db.claimWaiters.get(key);
      if (db.claims.has(key) || !waiters) continue;
      for (const [stageId, message] of waiters) {
        waiters.delete(stageId);
        const waiter = db.stages.get(stageId);
        const workflow = waiter ? db.workflows.get(waiter.executionId) : undefined;
        if (!waiter || isComplete(waiter.status) || !workflow || isComplete(workflow.status)) continue;
        db.insertRow(message, 0, 10);
        woken = true;
        break;
      }
      if (waiters.size === 0) db.claimWaiters.delete(key);
    }
    for (const wait of tx.claimWaits) {
      const key = `${wait.executionId}|${wait.claimKey}`;
      const owner = db.claims.get(key);
      const ownerStage = owner === undefined ? undefined : db.stages.get(owner);
      if (owner !== undefined && owner !== wait.stageId && ownerStage && !isComplete(ownerStage.status)) {
        let waiters = db.claimWaiters.get(key);
        if (!waiters) db.claimWaiters.set(key, (waiters = new Map()));
        waiters.set(wait.stageId, structuredClone(wait.message));
      } else {
        db.insertRow(wait.message, 0, 10);
        woken = true;
      }
    }
    const stored = db.appendEvents(tx.events);
    for (const [i, e] of tx.events.entries()) Object.assign(e, { sequence: stored[i]!.sequence, position: stored[i]!.position });
    if (tx.consumed) db.rows.delete(Number(tx.consumed.deliveryId));
    if (tx.messages.length > 0 || woken) db.wake();
  }

  async close(): Promise<void> {}
}

export class InMemoryQueue implements Queue {
  readonly db: InMemoryDatabase;

  constructor(options: { clock?: Clock; db?: InMemoryDatabase } = {}) {
    this.db = options.db ?? new InMemoryDatabase(options.clock);
  }

  async push(message: Message, options: PushOptions = {}): Promise<void> {
    this.db.insertRow(message, options.delayMs ?? 0, options.maxAttempts ?? 10);
    this.db.wake();
  }

  private seenSignal = -1;

  async poll(options: PollOptions): Promise<Delivery[]> {
    this.seenSignal = this.db.signal;
    const now = this.db.clock.now();
    const available = [...this.db.rows.values()]
      .filter((r) => r.deliverAt <= now && (r.leaseUntil === null || r.leaseUntil <= now))
      .sort((a, b) => a.deliverAt - b.deliverAt || a.id - b.id);
    const result: Delivery[] = [];
    for (const row of available) {
      if (result.length >= options.limit) break;
      if (row.attempts >= row.maxAttempts) {
        this.db.moveToDeadLetters(row, row.lastError ?? `Exceeded max_attempts (${row.maxAttempts})`);
        continue;
      }
      row.attempts += 1;
      if (row.coalesceKey !== undefined) {
        this.db.pendingKeys.delete(row.coalesceKey);
        delete row.coalesceKey;
      }
      row.leaseToken = randomUUID();
      row.leaseUntil = now + options.leaseMs;
      result.push({ id: String(row.id), message: structuredClone(row.message), attempts: row.attempts, maxAttempts: row.maxAttempts, leaseToken: row.leaseToken, deliverAt: row.deliverAt });
    }
    return result;
  }

  private owned(delivery: Delivery): QueueRow | undefined {
    const row = this.db.rows.get(Number(delivery.id));
    return row && row.leaseToken === delivery.leaseToken ? row : undefined;
  }

  async ack(delivery: Delivery): Promise<boolean> {
    const row = this.owned(delivery);
    if (!row) return false;
    this.db.rows.delete(row.id);
    return true;
  }

  async reschedule(delivery: Delivery, delayMs: number, error?: string): Promise<boolean> {
    const row = this.owned(delivery);
    if (!row) return false;
    row.lastError = error ?? row.lastError;
    if (row.attempts >= row.maxAttempts) {
      this.db.moveToDeadLetters(row, `Exceeded max_attempts (${row.maxAttempts})${error ? `: ${error}` : ''}`);
      return true;
    }
    row.leaseToken = null;
    row.leaseUntil = null;
    row.deliverAt = this.db.clock.now() + delayMs;
    this.db.wake();
    return true;
  }

  async extendLease(delivery: Delivery, leaseMs: number): Promise<boolean> {
    const row = this.owned(delivery);
    if (!row) return false;
    row.leaseUntil = this.db.clock.now() + leaseMs;
    return true;
  }

  async size(): Promise<number> {
    return this.db.rows.size;
  }

  async nextDeliveryTime(): Promise<number | null> {
    let next: number | null = null;
    for (const row of this.db.rows.values()) {
      const at = row.leaseUntil !== null ? Math.max(row.deliverAt, row.leaseUntil) : row.deliverAt;
      if (next === null || at < next) next = at;
    }
    return next;
  }

  waitForMessages(maxWaitMs: number, signal?: AbortSignal): Promise<void> {
    if (this.db.signal !== this.seenSignal) {
      // Something was pushed since the last poll: do not sleep on it.
      this.seenSignal = this.db.signal;
      return Promise.resolve();
    }
    return this.db.waitForChange(maxWaitMs, signal);
  }

  async hasPendingMessageForTask(taskId: string): Promise<boolean> {
    for (const row of this.db.rows.values()) if ((row.message as { taskId?: string }).taskId === taskId) return true;
    return false;
  }

  async moveToDeadLetters(delivery: Delivery, error: string): Promise<void> {
    const row = this.db.rows.get(Number(delivery.id));
    if (row) this.db.moveToDeadLetters(row, error);
  }

  async listDeadLetters(options: { limit?: number; messageType?: string } = {}): Promise<DeadLetter[]> {
    return [...this.db.deadLetters.values()].filter((d) => options.messageType === undefined || d.messageType === options.messageType).slice(0, options.limit ?? 100);
  }

  async replayDeadLetter(id: string): Promise<boolean> {
    const letter = this.db.deadLetters.get(Number(id));
    if (!letter?.message) return false;
    this.db.deadLetters.delete(Number(id));
    await this.push(letter.message);
    return true;
  }

  async deadLetterCount(): Promise<number> {
    return this.db.deadLetters.size;
  }

  async stats(): Promise<QueueStats> {
    const now = this.db.clock.now();
    const stats: QueueStats = { ready: 0, delayed: 0, processing: 0, deadLetters: this.db.deadLetters.size };
    for (const row of this.db.rows.values()) {
      if (row.leaseUntil !== null && row.leaseUntil > now) stats.processing++;
      else if (row.deliverAt > now) stats.delayed++;
      else stats.ready++;
    }
    return stats;
  }

  async clearDeadLetters(): Promise<number> {
    const n = this.db.deadLetters.size;
    this.db.deadLetters.clear();
    return n;
  }

  async close(): Promise<void> {}
}

/** A store and a queue that share one in-memory database. */
export function createInMemoryBackend(options: { clock?: Clock } = {}): { store: InMemoryWorkflowStore; queue: InMemoryQueue } {
  const queue = new InMemoryQueue(options);
  return { store: new InMemoryWorkflowStore(queue), queue };
}

/** Events of an in-memory backend (the same database its store commits to). */
export class InMemoryEventStore implements EventStore {
  readonly db: InMemoryDatabase;

  constructor(shared: InMemoryWorkflowStore | InMemoryQueue | InMemoryDatabase) {
    this.db = shared instanceof InMemoryDatabase ? shared : shared.db;
  }

  async append(events: EventRecord[]): Promise<EventRecord[]> {
    return this.db.appendEvents(events);
  }

  async readWorkflow(workflowId: string, options: ReadWorkflowEventsOptions = {}): Promise<EventRecord[]> {
    const types = options.eventTypes ? new Set(options.eventTypes) : null;
    return this.db.events
      .filter(
        (e) =>
          e.workflowId === workflowId &&
          e.sequence > (options.afterSequence ?? 0) &&
          (options.toSequence === undefined || e.sequence <= options.toSequence) &&
          (options.asOfTime === undefined || e.timestamp <= options.asOfTime) &&
          (types === null || types.has(e.eventType)),
      )
      .map((e) => structuredClone(e));
  }

  async readAll(options: ReadAllEventsOptions = {}): Promise<EventRecord[]> {
    const types = options.eventTypes ? new Set(options.eventTypes) : null;
    const result: EventRecord[] = [];
    for (const e of this.db.events) {
      if (e.position <= (options.afterPosition ?? 0)) continue;
      if (types !== null && !types.has(e.eventType)) continue;
      if (options.workflowId !== undefined && e.workflowId !== options.workflowId) continue;
      result.push(structuredClone(e));
      if (result.length >= (options.limit ?? 1000)) break;
    }
    return result;
  }

  async saveSnapshot(snapshot: EventSnapshot): Promise<void> {
    const same = this.db.snapshots.findIndex((s) => s.workflowId === snapshot.workflowId && s.sequence === snapshot.sequence);
    if (same >= 0) this.db.snapshots.splice(same, 1); // one snapshot per (workflow, sequence)
    this.db.snapshots.push(structuredClone(snapshot));
  }

  async loadSnapshot(workflowId: string, atOrBeforeSequence?: number): Promise<EventSnapshot | null> {
    const candidates = this.db.snapshots.filter((s) => s.workflowId === workflowId && (atOrBeforeSequence === undefined || s.sequence <= atOrBeforeSequence));
    candidates.sort((a, b) => b.sequence - a.sequence);
    return candidates[0] ? structuredClone(candidates[0]) : null;
  }

  async loadCheckpoint(subscriptionId: string): Promise<number> {
    return this.db.checkpoints.get(subscriptionId) ?? 0;
  }

  async saveCheckpoint(subscriptionId: string, position: number): Promise<void> {
    this.db.checkpoints.set(subscriptionId, position);
  }
}
