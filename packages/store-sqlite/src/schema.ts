// The tables of the SQLite backend, as drizzle definitions: the single source of column names and
// types. `ddl.ts` holds the matching CREATE statements (a test checks they agree).
//
// Encodings: JSON objects/arrays as TEXT, booleans as INTEGER 0/1, every time as INTEGER epoch
// milliseconds UTC from the injected Clock. JSON and boolean columns are declared as plain text /
// integer on purpose: rows are decoded by `rows.ts` (safe JSON parsing, CorruptDataError), so
// drizzle results and raw prepared-statement results have exactly the same shape.
import { sql } from 'drizzle-orm';
import { type AnySQLiteColumn, index, integer, primaryKey, sqliteTable, text } from 'drizzle-orm/sqlite-core';

export const pipelineExecutions = sqliteTable(
  'pipeline_executions',
  {
    id: text('id').primaryKey(),
    type: text('type').notNull(),
    application: text('application').notNull(),
    name: text('name').notNull(),
    status: text('status').notNull(),
    context: text('context').notNull().default('{}'),
    trigger: text('trigger').notNull().default('{}'),
    startTime: integer('start_time'),
    endTime: integer('end_time'),
    startTimeExpiry: integer('start_time_expiry'),
    isCanceled: integer('is_canceled').notNull().default(0),
    canceledBy: text('canceled_by'),
    cancellationReason: text('cancellation_reason'),
    paused: text('paused'),
    pipelineConfigId: text('pipeline_config_id'),
    isLimitConcurrent: integer('is_limit_concurrent').notNull().default(0),
    maxConcurrentExecutions: integer('max_concurrent_executions').notNull().default(0),
    keepWaitingPipelines: integer('keep_waiting_pipelines').notNull().default(0),
    origin: text('origin').notNull().default('unknown'),
    configVersion: text('config_version'),
    createdAt: integer('created_at').notNull(),
  },
  (t) => [
    index('idx_pipeline_executions_application').on(t.application, t.id),
    index('idx_pipeline_executions_config_status').on(t.pipelineConfigId, t.status),
    index('idx_pipeline_executions_status').on(t.status),
  ],
);

export const stageExecutions = sqliteTable(
  'stage_executions',
  {
    id: text('id').primaryKey(),
    executionId: text('execution_id')
      .notNull()
      .references((): AnySQLiteColumn => pipelineExecutions.id, { onDelete: 'cascade' }),
    /** Creation order within the workflow (0, 1, 2, ...). */
    position: integer('position').notNull(),
    refId: text('ref_id').notNull(),
    type: text('type').notNull(),
    name: text('name').notNull(),
    status: text('status').notNull(),
    context: text('context').notNull().default('{}'),
    outputs: text('outputs').notNull().default('{}'),
    requisiteStageRefIds: text('requisite_stage_ref_ids').notNull().default('[]'),
    parentStageId: text('parent_stage_id'),
    syntheticStageOwner: text('synthetic_stage_owner'),
    startTime: integer('start_time'),
    endTime: integer('end_time'),
    startTimeExpiry: integer('start_time_expiry'),
    scheduledTime: integer('scheduled_time'),
    version: integer('version').notNull().default(0),
    joinType: text('join_type').notNull().default('AND'),
    joinThreshold: integer('join_threshold').notNull().default(0),
    splitType: text('split_type').notNull().default('AND'),
    splitConditions: text('split_conditions').notNull().default('{}'),
    miConfig: text('mi_config'),
    deferredChoiceGroup: text('deferred_choice_group'),
    milestoneRefId: text('milestone_ref_id'),
    milestoneStatus: text('milestone_status'),
    mutexKey: text('mutex_key'),
    cancelRegion: text('cancel_region'),
    outputReducers: text('output_reducers').notNull().default('{}'),
    ancestorOutputs: text('ancestor_outputs'),
  },
  (t) => [
    index('idx_stage_executions_execution_position').on(t.executionId, t.position),
    index('idx_stage_executions_execution_ref').on(t.executionId, t.refId),
    index('idx_stage_executions_parent_position').on(t.parentStageId, t.position),
  ],
);

/** One row per (stage, requisite ref id): downstream lookup is an index range, not a scan. */
export const stageRequisites = sqliteTable(
  'stage_requisites',
  {
    executionId: text('execution_id').notNull(),
    stageId: text('stage_id')
      .notNull()
      .references((): AnySQLiteColumn => stageExecutions.id, { onDelete: 'cascade' }),
    requisiteRefId: text('requisite_ref_id').notNull(),
  },
  (t) => [primaryKey({ columns: [t.stageId, t.requisiteRefId] }), index('idx_stage_requisites_execution_ref').on(t.executionId, t.requisiteRefId, t.stageId)],
);

export const taskExecutions = sqliteTable(
  'task_executions',
  {
    id: text('id').primaryKey(),
    stageId: text('stage_id')
      .notNull()
      .references((): AnySQLiteColumn => stageExecutions.id, { onDelete: 'cascade' }),
    /** Order within the stage; tasks are never ordered by id. */
    position: integer('position').notNull(),
    name: text('name').notNull(),
    implementingClass: text('implementing_class').notNull(),
    status: text('status').notNull(),
    startTime: integer('start_time'),
    endTime: integer('end_time'),
    stageStart: integer('stage_start').notNull().default(0),
    stageEnd: integer('stage_end').notNull().default(0),
    loopStart: integer('loop_start').notNull().default(0),
    loopEnd: integer('loop_end').notNull().default(0),
    taskExceptionDetails: text('task_exception_details').notNull().default('{}'),
    version: integer('version').notNull().default(0),
  },
  (t) => [index('idx_task_executions_stage_position').on(t.stageId, t.position)],
);

export const stageClaims = sqliteTable(
  'stage_claims',
  {
    executionId: text('execution_id').notNull(),
    claimKey: text('claim_key').notNull(),
    stageId: text('stage_id').notNull(),
    claimedAt: integer('claimed_at').notNull(),
  },
  (t) => [primaryKey({ columns: [t.executionId, t.claimKey] })],
);

/**
 * Stages waiting for a claim (mutex wake-up), in arrival order (`position` per claim key). `message`
 * is the JSON of the message pushed when the claim is released and this waiter is first in line.
 */
export const stageClaimWaiters = sqliteTable(
  'stage_claim_waiters',
  {
    executionId: text('execution_id').notNull(),
    claimKey: text('claim_key').notNull(),
    stageId: text('stage_id').notNull(),
    position: integer('position').notNull(),
    message: text('message').notNull(),
    waitingSince: integer('waiting_since').notNull(),
  },
  (t) => [primaryKey({ columns: [t.executionId, t.claimKey, t.stageId] }), index('idx_stage_claim_waiters_order').on(t.executionId, t.claimKey, t.position)],
);

export const queueMessages = sqliteTable(
  'queue_messages',
  {
    /** The delivery id handlers see (as a decimal string); AUTOINCREMENT so it is never reused. */
    id: integer('id').primaryKey({ autoIncrement: true }),
    messageType: text('message_type').notNull(),
    payload: text('payload').notNull(),
    executionId: text('execution_id'),
    taskId: text('task_id'),
    deliverAt: integer('deliver_at').notNull(),
    leaseUntil: integer('lease_until'),
    leaseToken: text('lease_token'),
    attempts: integer('attempts').notNull().default(0),
    maxAttempts: integer('max_attempts').notNull().default(10),
    lastError: text('last_error'),
    createdAt: integer('created_at').notNull(),
    /** Set for coalescing messages: a push is skipped while an undelivered one with this key waits. */
    dedupeKey: text('dedupe_key'),
  },
  (t) => [
    index('idx_queue_messages_deliver').on(t.deliverAt, t.id),
    index('idx_queue_messages_dedupe')
      .on(t.dedupeKey)
      .where(sql`dedupe_key IS NOT NULL`),
    index('idx_queue_messages_lease').on(t.leaseUntil),
    index('idx_queue_messages_task').on(t.taskId),
  ],
);

export const queueMessagesDlq = sqliteTable(
  'queue_messages_dlq',
  {
    id: integer('id').primaryKey({ autoIncrement: true }),
    originalId: integer('original_id').notNull(),
    messageType: text('message_type').notNull(),
    payload: text('payload').notNull(),
    executionId: text('execution_id'),
    taskId: text('task_id'),
    attempts: integer('attempts').notNull(),
    maxAttempts: integer('max_attempts').notNull(),
    error: text('error').notNull(),
    createdAt: integer('created_at').notNull(),
    movedAt: integer('moved_at').notNull(),
  },
  (t) => [index('idx_queue_messages_dlq_type').on(t.messageType, t.id)],
);

/** Every table this package owns, store tables first. */
export const storeTables = [pipelineExecutions, stageExecutions, stageRequisites, taskExecutions, stageClaims, stageClaimWaiters] as const;
export const queueTables = [queueMessages, queueMessagesDlq] as const;

export type WorkflowRow = typeof pipelineExecutions.$inferSelect;
export type StageRow = typeof stageExecutions.$inferSelect;
export type TaskRow = typeof taskExecutions.$inferSelect;
export type QueueRow = typeof queueMessages.$inferSelect;
export type DeadLetterRow = typeof queueMessagesDlq.$inferSelect;
