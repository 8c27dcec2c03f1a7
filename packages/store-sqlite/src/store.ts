import { randomUUID } from 'node:crypto';
import {
  type Message,
  ClaimBlockedError,
  type ClaimRelease,
  type ClaimRequest,
  type ClaimWait,
  type Clock,
  ConcurrencyError,
  type EventRecord,
  isComplete,
  LeaseLostError,
  type StageExecution,
  StageNotFoundError,
  type StageSummary,
  StabilizeError,
  systemClock,
  type TaskExecution,
  type Transaction,
  type Workflow,
  WorkflowNotFoundError,
  type WorkflowQuery,
  type WorkflowStateUpdate,
  type WorkflowStatus,
  type WorkflowStore,
} from '@stabilize/core';
import Database from 'better-sqlite3';
import { and, asc, count, desc, eq, gt, gte, inArray, isNull, lt, or, type SQL, sql } from 'drizzle-orm';
import { acquireConnection, releaseConnection, type SqliteConnection } from './connection.js';
import { writeEventRecords } from './events.js';
import type { SqliteOptions } from './options.js';
import {
  insertSql,
  messageToRow,
  payloadToMessage,
  type MessageInsert,
  rowToStage,
  rowToSummary,
  rowToTask,
  rowToWorkflow,
  type StageInsert,
  type SummaryRow,
  type StageStateRow,
  selectList,
  stageStateToRow,
  stageToRow,
  type TaskInsert,
  taskToRow,
  toJson,
  type WorkflowInsert,
  workflowToRow,
} from './rows.js';
import { pipelineExecutions, queueMessages, type StageRow, stageExecutions, type TaskRow, taskExecutions, type WorkflowRow } from './schema.js';

const STAGE = selectList(stageExecutions);
const TASK = selectList(taskExecutions);
const TASK_UPDATE_COLUMNS = ['stage_id', 'position', 'name', 'implementing_class', 'status', 'start_time', 'end_time', 'stage_start', 'stage_end', 'loop_start', 'loop_end', 'task_exception_details', 'version'];

/** The SQL of the hot paths, prepared once per connection. Exported for the query-plan test. */
export const STORE_SQL = {
  workflowById: `SELECT ${selectList(pipelineExecutions)} FROM pipeline_executions WHERE id = ?`,
  workflowStatus: 'SELECT status FROM pipeline_executions WHERE id = ?',
  insertWorkflow: insertSql(pipelineExecutions, 'pipeline_executions'),
  insertStage: insertSql(stageExecutions, 'stage_executions'),
  insertRequisite: 'INSERT OR IGNORE INTO stage_requisites (execution_id, stage_id, requisite_ref_id) VALUES (?, ?, ?)',
  insertTask: insertSql(taskExecutions, 'task_executions'),
  upsertTask: `${insertSql(taskExecutions, 'task_executions')} ON CONFLICT (id) DO UPDATE SET ${TASK_UPDATE_COLUMNS.map((c) => `${c} = excluded.${c}`).join(', ')}`,
  deleteStaleTasks: 'DELETE FROM task_executions WHERE stage_id = ? AND id NOT IN (SELECT value FROM json_each(?))',
  nextStagePosition: 'SELECT COALESCE(MAX(position) + 1, 0) AS position FROM stage_executions WHERE execution_id = ?',
  updateStage:
    'UPDATE stage_executions SET status = @status, context = @context, outputs = @outputs, start_time = @startTime, end_time = @endTime, ancestor_outputs = @ancestorOutputs, version = version + 1 WHERE id = @id AND version = @version',
  updateStageExpecting:
    'UPDATE stage_executions SET status = @status, context = @context, outputs = @outputs, start_time = @startTime, end_time = @endTime, ancestor_outputs = @ancestorOutputs, version = version + 1 WHERE id = @id AND version = @version AND status = @expectedStatus',
  stageState: 'SELECT version, status FROM stage_executions WHERE id = ?',
  stageById: `SELECT ${STAGE} FROM stage_executions WHERE id = ?`,
  stagesOfWorkflow: `SELECT ${STAGE} FROM stage_executions WHERE execution_id = ? ORDER BY position`,
  stagesByRefIds: `SELECT ${STAGE} FROM stage_executions INDEXED BY idx_stage_executions_execution_ref WHERE execution_id = ? AND ref_id IN (SELECT value FROM json_each(?)) ORDER BY position`,
  downstreamStages: `SELECT ${selectList(stageExecutions, 's')} FROM stage_requisites r JOIN stage_executions s ON s.id = r.stage_id WHERE r.execution_id = ? AND r.requisite_ref_id = ? ORDER BY s.position`,
  syntheticStages: `SELECT ${STAGE} FROM stage_executions WHERE parent_stage_id = ? ORDER BY position`,
  stageSummaries:
    'SELECT id, ref_id AS refId, status, requisite_stage_ref_ids AS requisiteStageRefIds, parent_stage_id AS parentStageId, synthetic_stage_owner AS syntheticStageOwner, context, outputs FROM stage_executions WHERE execution_id = ? ORDER BY position',
  stageSummariesOf:
    'SELECT execution_id AS executionId, id, ref_id AS refId, status, requisite_stage_ref_ids AS requisiteStageRefIds, parent_stage_id AS parentStageId, synthetic_stage_owner AS syntheticStageOwner, context, outputs FROM stage_executions WHERE execution_id IN (SELECT value FROM json_each(?)) ORDER BY execution_id, position',
  tasksOfStage: `SELECT ${TASK} FROM task_executions WHERE stage_id = ? ORDER BY position`,
  tasksOfStages: `SELECT ${TASK} FROM task_executions WHERE stage_id IN (SELECT value FROM json_each(?)) ORDER BY stage_id, position`,
  tasksOfWorkflow: `SELECT ${selectList(taskExecutions, 't')} FROM stage_executions s JOIN task_executions t ON t.stage_id = s.id WHERE s.execution_id = ? ORDER BY t.stage_id, t.position`,
  claimOwner: 'SELECT stage_id AS stageId FROM stage_claims WHERE execution_id = ? AND claim_key = ?',
  insertClaim: 'INSERT INTO stage_claims (execution_id, claim_key, stage_id, claimed_at) VALUES (?, ?, ?, ?)',
  moveClaim: 'UPDATE stage_claims SET stage_id = ?, claimed_at = ? WHERE execution_id = ? AND claim_key = ?',
  stageStatus: 'SELECT status FROM stage_executions WHERE id = ?',
  releaseOwnedClaim: 'DELETE FROM stage_claims WHERE execution_id = ? AND claim_key = ? AND stage_id = ?',
  claimWaiters: 'SELECT stage_id AS stageId, position, message FROM stage_claim_waiters WHERE execution_id = ? AND claim_key = ? ORDER BY position',
  deleteClaimWaiter: 'DELETE FROM stage_claim_waiters WHERE execution_id = ? AND claim_key = ? AND stage_id = ?',
  // A repeated wait of the same stage replaces its message and keeps its place in line.
  upsertClaimWaiter:
    'INSERT INTO stage_claim_waiters (execution_id, claim_key, stage_id, position, message, waiting_since) VALUES (?, ?, ?, (SELECT COALESCE(MAX(position) + 1, 0) FROM stage_claim_waiters WHERE execution_id = ? AND claim_key = ?), ?, ?) ON CONFLICT (execution_id, claim_key, stage_id) DO UPDATE SET message = excluded.message',
  waiterLiveness:
    'SELECT s.status AS stageStatus, w.status AS workflowStatus FROM stage_executions s LEFT JOIN pipeline_executions w ON w.id = s.execution_id WHERE s.id = ?',
  consumeDelivery: 'DELETE FROM queue_messages WHERE id = ? AND lease_token = ?',
  insertMessage: insertSql(queueMessages, 'queue_messages', ['id']),
  pendingWithKey: 'SELECT 1 FROM queue_messages WHERE dedupe_key = ? AND lease_token IS NULL LIMIT 1',
} as const;

/** Workflow fields a transaction may update, and their columns. */
const WORKFLOW_UPDATE_COLUMNS: Record<keyof WorkflowStateUpdate, string> = {
  status: 'status',
  startTime: 'start_time',
  endTime: 'end_time',
  isCanceled: 'is_canceled',
  canceledBy: 'canceled_by',
  cancellationReason: 'cancellation_reason',
  paused: 'paused',
};

// ---- the commit plan: everything encoded before the write lock is taken -------------------------

interface StagePlan {
  row: Required<StageInsert>;
  requisites: string[];
  tasks: Array<Required<TaskInsert>>;
}

interface StageUpdatePlan {
  stage: StageExecution;
  expectedStatus: WorkflowStatus | undefined;
  params: StageStateRow;
  tasks: Array<Required<TaskInsert>>;
  taskIds: string;
}

interface WorkflowUpdatePlan {
  workflowId: string;
  expectedStatus: WorkflowStatus | undefined;
  sql: string | null;
  params: unknown[];
}

interface CommitPlan {
  consumed: { id: number; token: string; deliveryId: string } | null;
  workflows: Array<{ row: Required<WorkflowInsert>; stages: StagePlan[] }>;
  claims: ClaimRequest[];
  claimWaits: Array<ClaimWait & { payload: string }>;
  claimReleases: ClaimRelease[];
  workflowUpdates: WorkflowUpdatePlan[];
  stageInserts: StagePlan[];
  stageUpdates: StageUpdatePlan[];
  messages: Array<Required<MessageInsert>>;
  /** Per message: the message pushed, when it is inserted already leased to the committing worker. */
  leased: Array<Message | null>;
}

const DEFAULT_MAX_ATTEMPTS = 10;

function planStage(stage: StageExecution, executionId: string, position: number): StagePlan {
  return {
    row: stageToRow(stage, executionId, position),
    requisites: [...new Set(stage.requisiteStageRefIds)],
    tasks: stage.tasks.map((t, i) => taskToRow(t, stage.id, i)),
  };
}

function planWorkflowUpdate(workflowId: string, fields: WorkflowStateUpdate, expectedStatus: WorkflowStatus | undefined): WorkflowUpdatePlan {
  const sets: string[] = [];
  const params: unknown[] = [];
  for (const [key, column] of Object.entries(WORKFLOW_UPDATE_COLUMNS) as Array<[keyof WorkflowStateUpdate, string]>) {
    const value = fields[key];
    if (value === undefined) continue;
    sets.push(`${column} = ?`);
    if (key === 'isCanceled') params.push(value ? 1 : 0);
    else if (key === 'paused') params.push(value === null ? null : toJson(value, `paused of workflow ${workflowId}`));
    else params.push(value);
  }
  if (sets.length === 0) return { workflowId, expectedStatus, sql: null, params: [] };
  params.push(workflowId);
  if (expectedStatus !== undefined) params.push(expectedStatus);
  const sql = `UPDATE pipeline_executions SET ${sets.join(', ')} WHERE id = ?${expectedStatus !== undefined ? ' AND status = ?' : ''}`;
  return { workflowId, expectedStatus, sql, params };
}

const isConstraint = (error: unknown, code: string): boolean => error instanceof Database.SqliteError && error.code === code;

/**
 * The workflow store on SQLite. Reads return fresh model objects; `commit` applies a whole
 * Transaction (state, claims, queue rows, consumed delivery) in one BEGIN IMMEDIATE transaction.
 */
export class SqliteWorkflowStore implements WorkflowStore {
  readonly clock: Clock;
  private readonly conn: SqliteConnection;
  private closed = false;

  constructor(url: string, options: SqliteOptions = {}) {
    this.clock = options.clock ?? systemClock;
    this.conn = acquireConnection(url, options);
    try {
      if (options.createTables !== false) this.conn.ensureSchema('store');
    } catch (error) {
      releaseConnection(this.conn);
      throw error;
    }
  }

  /** The shared better-sqlite3 handle (for tools; do not close it yourself). */
  get database(): Database.Database {
    return this.open().db;
  }

  private open(): SqliteConnection {
    if (this.closed) throw new StabilizeError('SqliteWorkflowStore is closed');
    return this.conn;
  }

  private run(sql: string) {
    return this.open().statement(sql);
  }

  // ---- store and reads ------------------------------------------------------------------------

  async store(workflow: Workflow): Promise<void> {
    workflow.validate();
    const plan = { row: workflowToRow(workflow, this.clock.now()), stages: workflow.stages.map((s, i) => planStage(s, workflow.id, i)) };
    this.open().write(() => this.insertWorkflow(plan));
  }

  async retrieve(workflowId: string): Promise<Workflow> {
    return this.open().read(() => {
      const workflow = this.workflowRow(workflowId);
      const tasks = groupTasks(this.run(STORE_SQL.tasksOfWorkflow).all(workflowId) as TaskRow[], workflowId);
      for (const row of this.run(STORE_SQL.stagesOfWorkflow).all(workflowId) as StageRow[]) workflow.stages.push(rowToStage(row, tasks.get(row.id) ?? []));
      return workflow;
    });
  }

  async retrieveWorkflowOnly(workflowId: string): Promise<Workflow> {
    return this.workflowRow(workflowId);
  }

  private workflowRow(workflowId: string): Workflow {
    const row = this.run(STORE_SQL.workflowById).get(workflowId) as WorkflowRow | undefined;
    if (!row) throw new WorkflowNotFoundError(workflowId);
    return rowToWorkflow(row);
  }

  // Hot-path reads run their two statements without a read transaction: in this process nothing can
  // interleave between synchronous statements, and a commit by another process in between can only
  // make the version-checked write that follows fail and retry.
  async retrieveStageWithWorkflow(stageId: string): Promise<{ stage: StageExecution; workflow: Workflow }> {
    const stage = await this.retrieveStage(stageId);
    return { stage, workflow: await this.retrieveWorkflowOnly(stage.executionId) };
  }

  async retrieveStage(stageId: string): Promise<StageExecution> {
    const row = this.run(STORE_SQL.stageById).get(stageId) as StageRow | undefined;
    if (!row) throw new StageNotFoundError(stageId);
    return rowToStage(row, (this.run(STORE_SQL.tasksOfStage).all(stageId) as TaskRow[]).map((task) => rowToTask(task, row.executionId)));
  }

  async retrieveStagesByRefIds(workflowId: string, refIds: readonly string[]): Promise<StageExecution[]> {
    if (refIds.length === 0) return [];
    return this.stagesWithTasks(STORE_SQL.stagesByRefIds, workflowId, JSON.stringify(refIds));
  }

  async retrieveDownstreamStages(workflowId: string, refId: string): Promise<StageExecution[]> {
    return this.stagesWithTasks(STORE_SQL.downstreamStages, workflowId, refId);
  }

  async retrieveSyntheticStages(parentStageId: string): Promise<StageExecution[]> {
    return this.stagesWithTasks(STORE_SQL.syntheticStages, parentStageId);
  }

  /** Stage rows from `query`, each with its tasks (one extra query for all of them). */
  private stagesWithTasks(query: string, ...params: unknown[]): StageExecution[] {
    const rows = this.run(query).all(...params) as StageRow[];
    if (rows.length === 0) return [];
    const tasks = groupTasks(this.run(STORE_SQL.tasksOfStages).all(JSON.stringify(rows.map((r) => r.id))) as TaskRow[], rows[0]!.executionId);
    return rows.map((row) => rowToStage(row, tasks.get(row.id) ?? []));
  }

  async retrieveStageSummaries(workflowId: string): Promise<StageSummary[]> {
    return (this.run(STORE_SQL.stageSummaries).all(workflowId) as SummaryRow[]).map((row) => rowToSummary(row, workflowId));
  }

  async retrieveStageSummariesFor(workflowIds: readonly string[]): Promise<Map<string, StageSummary[]>> {
    const out = new Map<string, StageSummary[]>(workflowIds.map((id) => [id, []]));
    if (workflowIds.length === 0) return out;
    for (const row of this.run(STORE_SQL.stageSummariesOf).all(JSON.stringify([...new Set(workflowIds)])) as Array<SummaryRow & { executionId: string }>) {
      out.get(row.executionId)?.push(rowToSummary(row, row.executionId));
    }
    return out;
  }

  private where(query: WorkflowQuery): SQL | undefined {
    const t = pipelineExecutions;
    const conditions: SQL[] = [];
    if (query.application !== undefined) conditions.push(eq(t.application, query.application));
    if (query.pipelineConfigId !== undefined) conditions.push(eq(t.pipelineConfigId, query.pipelineConfigId));
    if (query.statuses !== undefined) conditions.push(query.statuses.length > 0 ? inArray(t.status, query.statuses) : sql`0 = 1`);
    if (query.startedAfter !== undefined) conditions.push(or(isNull(t.startTime), gte(t.startTime, query.startedAfter))!);
    if (query.afterId !== undefined) conditions.push(query.order === 'desc' ? lt(t.id, query.afterId) : gt(t.id, query.afterId));
    return and(...conditions);
  }

  async countWorkflows(query: WorkflowQuery): Promise<number> {
    const row = this.open().orm.select({ n: count() }).from(pipelineExecutions).where(this.where(query)).get();
    return row?.n ?? 0;
  }

  async countWorkflowsByStatus(query: { application?: string } = {}): Promise<Partial<Record<WorkflowStatus, number>>> {
    const t = pipelineExecutions;
    const rows = this.open()
      .orm.select({ status: t.status, n: count() })
      .from(t)
      .where(this.where(query.application === undefined ? {} : { application: query.application }))
      .groupBy(t.status)
      .all();
    const counts: Partial<Record<WorkflowStatus, number>> = {};
    for (const row of rows) counts[row.status as WorkflowStatus] = row.n;
    return counts;
  }

  async listWorkflows(query: WorkflowQuery): Promise<Workflow[]> {
    const rows = this.open()
      .orm.select()
      .from(pipelineExecutions)
      .where(this.where(query))
      .orderBy(query.order === 'desc' ? desc(pipelineExecutions.id) : asc(pipelineExecutions.id))
      .limit(query.limit ?? 100)
      .all();
    return rows.map(rowToWorkflow);
  }

  // ---- commit ---------------------------------------------------------------------------------

  /** Commits the open group-commit batch, if any. */
  async flush(): Promise<void> {
    if (!this.closed) this.conn.flush();
  }

  async commit(tx: Transaction): Promise<void> {
    const conn = this.open();
    if (tx.isEmpty()) return;
    const now = this.clock.now();
    const plan = this.plan(tx, now);
    try {
      conn.write(() => this.apply(tx, plan, now), tx.groupable);
    } catch (error) {
      tx.claimed.length = 0; // rolled back: nothing was claimed
      throw error;
    }
    // The stored versions moved on; keep the caller's objects in step (stages inserted by this
    // transaction were written as they are, so their version stays).
    for (const update of plan.stageUpdates) update.stage.version += 1;
    if (plan.messages.length > 0 || plan.claimWaits.length > 0 || plan.claimReleases.length > 0) conn.notify();
  }

  /** Encodes every row of the transaction (JSON, booleans) before the write lock is taken. */
  private plan(tx: Transaction, now: number): CommitPlan {
    let consumed: CommitPlan['consumed'] = null;
    if (tx.consumed) {
      const id = Number(tx.consumed.deliveryId);
      if (!Number.isSafeInteger(id)) throw new LeaseLostError(`Message ${tx.consumed.deliveryId} is no longer held by this worker`);
      consumed = { id, token: tx.consumed.leaseToken, deliveryId: tx.consumed.deliveryId };
    }
    const insertedStageIds = new Set(tx.stageInserts.map((s) => s.id));
    return {
      consumed,
      workflows: tx.workflowInserts.map((w) => ({ row: workflowToRow(w, now), stages: w.stages.map((s, i) => planStage(s, w.id, i)) })),
      claims: tx.claims,
      claimWaits: tx.claimWaits.map((w) => ({ ...w, payload: messageToRow(w.message, now, 0, DEFAULT_MAX_ATTEMPTS).payload })),
      claimReleases: tx.claimReleases,
      workflowUpdates: tx.workflowUpdates.map((u) => planWorkflowUpdate(u.workflowId, u.fields, u.expectedStatus)),
      // Position is assigned inside the transaction (after the workflow's last stage).
      stageInserts: tx.stageInserts.map((s) => planStage(s, s.executionId, -1)),
      stageUpdates: tx.stageUpdates
        .filter((u) => !insertedStageIds.has(u.stage.id))
        .map(({ stage, expectedStatus }) => ({
          stage,
          expectedStatus,
          params: stageStateToRow(stage),
          tasks: stage.tasks.map((t, i) => taskToRow(t, stage.id, i)),
          taskIds: JSON.stringify(stage.tasks.map((t) => t.id)),
        })),
      ...this.planMessages(tx, now),
    };
  }

  /**
   * Encodes the pushed messages. With `tx.claimPushed`, the first due-now messages are inserted
   * already leased to the committing worker (the processor's fast path, no poll needed).
   */
  private planMessages(tx: Transaction, now: number): Pick<CommitPlan, 'messages' | 'leased'> {
    let claimable = tx.claimPushed?.limit ?? 0;
    const messages: CommitPlan['messages'] = [];
    const leased: CommitPlan['leased'] = [];
    for (const { message, delayMs, claimable: allowed, coalesceKey } of tx.messages) {
      const row = messageToRow(message, now, delayMs, DEFAULT_MAX_ATTEMPTS);
      row.dedupeKey = coalesceKey ?? null;
      if (claimable > 0 && allowed && row.deliverAt <= now) {
        claimable--;
        row.leaseToken = randomUUID();
        row.leaseUntil = now + tx.claimPushed!.leaseMs;
        row.attempts = 1;
        leased.push(message);
      } else {
        leased.push(null);
      }
      messages.push(row);
    }
    return { messages, leased };
  }

  /** Runs inside the write transaction; any throw rolls everything back. */
  private apply(tx: Transaction, plan: CommitPlan, now: number): void {
    if (plan.consumed) {
      const { changes } = this.run(STORE_SQL.consumeDelivery).run(plan.consumed.id, plan.consumed.token);
      if (changes === 0) throw new LeaseLostError(`Message ${plan.consumed.deliveryId} is no longer held by this worker`);
    }
    for (const workflow of plan.workflows) this.insertWorkflow(workflow);
    for (const claim of plan.claims) this.acquireClaim(claim, now);
    for (const update of plan.workflowUpdates) this.updateWorkflow(update);
    for (const stage of plan.stageInserts) this.insertNewStage(stage);
    for (const update of plan.stageUpdates) this.updateStage(update);
    this.writeEvents(tx.events, now);
    const insertMessage = this.run(STORE_SQL.insertMessage);
    const pending = this.run(STORE_SQL.pendingWithKey);
    plan.messages.forEach((row, i) => {
      // A coalescing message is dropped while an identical one still waits undelivered: that one
      // will be handled after this commit and see everything it wrote.
      if (row.dedupeKey !== null && pending.get(row.dedupeKey) !== undefined) return;
      const { lastInsertRowid } = insertMessage.run(row);
      const claimed = plan.leased[i];
      if (claimed) {
        tx.claimed.push({ id: String(lastInsertRowid), message: claimed, attempts: 1, maxAttempts: row.maxAttempts, leaseToken: row.leaseToken!, deliverAt: row.deliverAt });
      }
    });
    for (const release of plan.claimReleases) this.releaseClaim(release, now);
    for (const wait of plan.claimWaits) this.waitForClaim(wait, now);
  }

  /**
   * Frees the claim if `stageId` owns it; then, when nobody holds the key, wakes the first live
   * waiter (in arrival order), forgetting dead ones (stage gone or complete, workflow complete).
   */
  private releaseClaim({ executionId, claimKey, stageId }: ClaimRelease, now: number): void {
    this.run(STORE_SQL.releaseOwnedClaim).run(executionId, claimKey, stageId);
    if (this.run(STORE_SQL.claimOwner).get(executionId, claimKey) !== undefined) return;
    const waiters = this.run(STORE_SQL.claimWaiters).all(executionId, claimKey) as Array<{ stageId: string; position: number; message: string }>;
    const forget = this.run(STORE_SQL.deleteClaimWaiter);
    const liveness = this.run(STORE_SQL.waiterLiveness);
    for (const waiter of waiters) {
      forget.run(executionId, claimKey, waiter.stageId);
      const state = liveness.get(waiter.stageId) as { stageStatus: WorkflowStatus; workflowStatus: WorkflowStatus | null } | undefined;
      if (!state || isComplete(state.stageStatus) || state.workflowStatus === null || isComplete(state.workflowStatus)) continue;
      this.pushNow(payloadToMessage(waiter.message, 'stage_claim_waiters', waiter.position), now);
      return;
    }
  }

  /** Queues the waiter behind a live owner that is another stage; otherwise pushes its message at once. */
  private waitForClaim({ executionId, claimKey, stageId, message, payload }: CommitPlan['claimWaits'][number], now: number): void {
    const owner = this.run(STORE_SQL.claimOwner).get(executionId, claimKey) as { stageId: string } | undefined;
    if (owner && owner.stageId !== stageId) {
      const ownerStage = this.run(STORE_SQL.stageStatus).get(owner.stageId) as { status: WorkflowStatus } | undefined;
      if (ownerStage && !isComplete(ownerStage.status)) {
        this.run(STORE_SQL.upsertClaimWaiter).run(executionId, claimKey, stageId, executionId, claimKey, payload, now);
        return;
      }
    }
    this.pushNow(message, now);
  }

  private pushNow(message: Message, now: number): void {
    this.run(STORE_SQL.insertMessage).run(messageToRow(message, now, 0, DEFAULT_MAX_ATTEMPTS));
  }

  /**
   * Runs `callback` once everything committed so far is durable: at once, or when an open
   * group-commit batch commits. The event recorder publishes a transaction's events through it.
   */
  whenDurable(callback: () => void): void {
    this.open().whenFlushed(callback);
  }

  /** Event records of the transaction (see events.ts): numbered and written in this transaction. */
  protected writeEvents(events: readonly EventRecord[], _now: number): void {
    if (events.length > 0) writeEventRecords(this.open(), events);
  }

  private insertWorkflow({ row, stages }: CommitPlan['workflows'][number]): void {
    try {
      this.run(STORE_SQL.insertWorkflow).run(row);
    } catch (error) {
      if (isConstraint(error, 'SQLITE_CONSTRAINT_PRIMARYKEY')) throw new ConcurrencyError(`Workflow ${row.id} is already stored`, { cause: error });
      throw error;
    }
    for (const stage of stages) this.insertStage(stage);
  }

  private insertNewStage(stage: StagePlan): void {
    const executionId = stage.row.executionId;
    if (this.run(STORE_SQL.workflowStatus).get(executionId) === undefined) throw new WorkflowNotFoundError(executionId);
    const { position } = this.run(STORE_SQL.nextStagePosition).get(executionId) as { position: number };
    this.insertStage({ ...stage, row: { ...stage.row, position } });
  }

  private insertStage({ row, requisites, tasks }: StagePlan): void {
    try {
      this.run(STORE_SQL.insertStage).run(row);
    } catch (error) {
      if (isConstraint(error, 'SQLITE_CONSTRAINT_PRIMARYKEY')) throw new ConcurrencyError(`Stage ${row.id} is already stored`, { cause: error });
      throw error;
    }
    const insertRequisite = this.run(STORE_SQL.insertRequisite);
    for (const refId of requisites) insertRequisite.run(row.executionId, row.id, refId);
    const insertTask = this.run(STORE_SQL.insertTask);
    for (const task of tasks) {
      try {
        insertTask.run(task);
      } catch (error) {
        if (isConstraint(error, 'SQLITE_CONSTRAINT_PRIMARYKEY')) throw new ConcurrencyError(`Task ${task.id} is already stored`, { cause: error });
        throw error;
      }
    }
  }

  /** Insert-if-absent; a claim held by another stage moves only from a finished (or deleted) owner. */
  private acquireClaim(claim: ClaimRequest, now: number): void {
    const owner = this.run(STORE_SQL.claimOwner).get(claim.executionId, claim.claimKey) as { stageId: string } | undefined;
    if (!owner) {
      this.run(STORE_SQL.insertClaim).run(claim.executionId, claim.claimKey, claim.stageId, now);
      return;
    }
    if (owner.stageId === claim.stageId) return;
    const ownerStage = this.run(STORE_SQL.stageStatus).get(owner.stageId) as { status: WorkflowStatus } | undefined;
    const stealable = claim.stealIfOwnerComplete && (!ownerStage || isComplete(ownerStage.status));
    if (!stealable) throw new ClaimBlockedError(claim.claimKey, owner.stageId);
    this.run(STORE_SQL.moveClaim).run(claim.stageId, now, claim.executionId, claim.claimKey);
  }

  private updateWorkflow({ workflowId, expectedStatus, sql: query, params }: WorkflowUpdatePlan): void {
    if (query !== null && this.run(query).run(...params).changes > 0) return;
    const current = this.run(STORE_SQL.workflowStatus).get(workflowId) as { status: string } | undefined;
    if (!current) throw new WorkflowNotFoundError(workflowId);
    if (expectedStatus !== undefined && current.status !== expectedStatus) throw new ConcurrencyError(`Workflow ${workflowId} is ${current.status}, expected ${expectedStatus}`);
  }

  /** Version (and optionally status) compare-and-swap on the stage's state, then its tasks. */
  private updateStage({ params, expectedStatus, tasks, taskIds }: StageUpdatePlan): void {
    const changed =
      expectedStatus === undefined
        ? this.run(STORE_SQL.updateStage).run(params).changes
        : this.run(STORE_SQL.updateStageExpecting).run({ ...params, expectedStatus }).changes;
    if (changed === 0) {
      const current = this.run(STORE_SQL.stageState).get(params.id) as { version: number; status: string } | undefined;
      if (!current) throw new StageNotFoundError(params.id);
      throw new ConcurrencyError(`Stage ${params.id} changed concurrently (version ${current.version}, status ${current.status}; expected version ${params.version}${expectedStatus ? `, status ${expectedStatus}` : ''})`);
    }
    const upsertTask = this.run(STORE_SQL.upsertTask);
    for (const task of tasks) upsertTask.run(task);
    // Tasks dropped from the stage object are dropped from the table too (the stage owns its list).
    this.run(STORE_SQL.deleteStaleTasks).run(params.id, taskIds);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    releaseConnection(this.conn);
  }
}

/** Task rows (ordered by stage, position) grouped by stage id. */
function groupTasks(rows: TaskRow[], workflowId: string | null = null): Map<string, TaskExecution[]> {
  const byStage = new Map<string, TaskExecution[]>();
  for (const row of rows) {
    let list = byStage.get(row.stageId);
    if (!list) byStage.set(row.stageId, (list = []));
    list.push(rowToTask(row, workflowId));
  }
  return byStage;
}
