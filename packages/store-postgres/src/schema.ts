// The PostgreSQL tables of Stabilize, described with drizzle-orm. The SQL that creates them lives in
// `migrations/` (applied by `stabilize mg-up`); `test/schema.test.ts` checks that both agree.
//
// Domain times (start_time, end_time, created_at of a workflow, ...) are epoch milliseconds in
// BIGINT columns, exactly as in the model. Queue bookkeeping times are `timestamptz` written from the
// database clock (`now()`), so workers on machines with skewed clocks agree on leases and delays.
import { sql } from 'drizzle-orm';
import { bigint, bigserial, boolean, customType, index, integer, jsonb, pgSchema, pgTable, primaryKey, text, timestamp, unique, uuid } from 'drizzle-orm/pg-core';

/** `xid8`: a 64-bit transaction id (PostgreSQL 13+), read as its decimal text. */
const xid8 = customType<{ data: string; driverData: string }>({ dataType: () => 'xid8' });

/** Every table of a Stabilize schema, bound to one PostgreSQL schema (default `public`). */
export function stabilizeTables(schemaName = 'public') {
  // drizzle refuses pgSchema('public'); both builders share one signature apart from the schema type.
  const table = (schemaName === 'public' ? pgTable : pgSchema(schemaName).table) as typeof pgTable;

  const pipelineExecutions = table(
    'pipeline_executions',
    {
      id: text('id').primaryKey(),
      type: text('type').notNull(),
      application: text('application').notNull(),
      name: text('name'),
      status: text('status').notNull(),
      startTime: bigint('start_time', { mode: 'number' }),
      endTime: bigint('end_time', { mode: 'number' }),
      startTimeExpiry: bigint('start_time_expiry', { mode: 'number' }),
      trigger: jsonb('trigger'),
      context: jsonb('context'),
      isCanceled: boolean('is_canceled').notNull().default(false),
      canceledBy: text('canceled_by'),
      cancellationReason: text('cancellation_reason'),
      paused: jsonb('paused'),
      pipelineConfigId: text('pipeline_config_id'),
      isLimitConcurrent: boolean('is_limit_concurrent').notNull().default(false),
      maxConcurrentExecutions: integer('max_concurrent_executions').notNull().default(0),
      keepWaitingPipelines: boolean('keep_waiting_pipelines').notNull().default(false),
      origin: text('origin').notNull().default('unknown'),
      configVersion: text('config_version'),
      createdAt: bigint('created_at', { mode: 'number' })
        .notNull()
        .default(sql`((extract(epoch from now()) * 1000)::bigint)`),
    },
    (t) => [
      index('idx_executions_application').on(t.application),
      index('idx_executions_config_id').on(t.pipelineConfigId),
      index('idx_executions_status').on(t.status),
      index('idx_execution_created_at').on(t.createdAt.desc()),
      index('idx_execution_application_status').on(t.application, t.status),
      index('idx_execution_config_status').on(t.pipelineConfigId, t.status),
    ],
  );

  const stageExecutions = table(
    'stage_executions',
    {
      id: text('id').primaryKey(),
      executionId: text('execution_id')
        .notNull()
        .references(() => pipelineExecutions.id, { onDelete: 'cascade' }),
      /** Creation order (a sequence): stages are always read back in the order they were created. */
      position: bigserial('position', { mode: 'number' }).notNull(),
      refId: text('ref_id').notNull(),
      type: text('type').notNull(),
      name: text('name'),
      status: text('status').notNull(),
      context: jsonb('context').notNull().default({}),
      outputs: jsonb('outputs').notNull().default({}),
      requisiteStageRefIds: text('requisite_stage_ref_ids').array().notNull().default(sql`'{}'::text[]`),
      parentStageId: text('parent_stage_id'),
      syntheticStageOwner: text('synthetic_stage_owner'),
      startTime: bigint('start_time', { mode: 'number' }),
      endTime: bigint('end_time', { mode: 'number' }),
      startTimeExpiry: bigint('start_time_expiry', { mode: 'number' }),
      scheduledTime: bigint('scheduled_time', { mode: 'number' }),
      version: integer('version').notNull().default(0),
      joinType: text('join_type').notNull().default('AND'),
      joinThreshold: integer('join_threshold').notNull().default(0),
      splitType: text('split_type').notNull().default('AND'),
      splitConditions: jsonb('split_conditions').notNull().default({}),
      miConfig: jsonb('mi_config'),
      deferredChoiceGroup: text('deferred_choice_group'),
      milestoneRefId: text('milestone_ref_id'),
      milestoneStatus: text('milestone_status'),
      mutexKey: text('mutex_key'),
      cancelRegion: text('cancel_region'),
      outputReducers: jsonb('output_reducers').notNull().default({}),
      ancestorOutputs: jsonb('ancestor_outputs'),
    },
    (t) => [
      index('idx_stage_execution').on(t.executionId, t.position),
      index('idx_stage_parent')
        .on(t.parentStageId)
        .where(sql`${t.parentStageId} IS NOT NULL`),
      index('idx_stage_execution_ref').on(t.executionId, t.refId),
    ],
  );

  /** One row per (stage, requisite ref id): serves "which stages wait for this one" lookups. */
  const stageRequisites = table(
    'stage_requisites',
    {
      executionId: text('execution_id').notNull(),
      stageId: text('stage_id')
        .notNull()
        .references(() => stageExecutions.id, { onDelete: 'cascade' }),
      requisiteRefId: text('requisite_ref_id').notNull(),
    },
    (t) => [primaryKey({ name: 'stage_requisites_pkey', columns: [t.stageId, t.requisiteRefId] }), index('idx_stage_requisites_downstream').on(t.executionId, t.requisiteRefId)],
  );

  const taskExecutions = table(
    'task_executions',
    {
      id: text('id').primaryKey(),
      stageId: text('stage_id')
        .notNull()
        .references(() => stageExecutions.id, { onDelete: 'cascade' }),
      /** Index in the stage's task list: tasks are ordered by position, never by id. */
      position: integer('position').notNull(),
      name: text('name').notNull(),
      implementingClass: text('implementing_class').notNull(),
      status: text('status').notNull(),
      startTime: bigint('start_time', { mode: 'number' }),
      endTime: bigint('end_time', { mode: 'number' }),
      stageStart: boolean('stage_start').notNull().default(false),
      stageEnd: boolean('stage_end').notNull().default(false),
      loopStart: boolean('loop_start').notNull().default(false),
      loopEnd: boolean('loop_end').notNull().default(false),
      taskExceptionDetails: jsonb('task_exception_details').notNull().default({}),
      version: integer('version').notNull().default(0),
    },
    (t) => [index('idx_task_stage').on(t.stageId, t.position)],
  );

  const queueMessages = table(
    'queue_messages',
    {
      id: bigserial('id', { mode: 'number' }).primaryKey(),
      messageType: text('message_type').notNull(),
      payload: jsonb('payload').notNull(),
      /** `taskId` of task-level messages, for `hasPendingMessageForTask`. */
      taskId: text('task_id'),
      deliverAt: timestamp('deliver_at', { withTimezone: true, mode: 'date' }).notNull().defaultNow(),
      attempts: integer('attempts').notNull().default(0),
      maxAttempts: integer('max_attempts').notNull().default(10),
      leaseToken: uuid('lease_token'),
      leaseUntil: timestamp('lease_until', { withTimezone: true, mode: 'date' }),
      lastError: text('last_error'),
      /** Set while the row was never delivered: a push with the same key may be dropped meanwhile. */
      coalesceKey: text('coalesce_key'),
      createdAt: timestamp('created_at', { withTimezone: true, mode: 'date' }).notNull().defaultNow(),
    },
    (t) => [
      index('idx_queue_deliver').on(t.deliverAt, t.id),
      index('idx_queue_messages_task_id')
        .on(t.taskId)
        .where(sql`${t.taskId} IS NOT NULL`),
      index('idx_queue_coalesce')
        .on(t.coalesceKey)
        .where(sql`${t.coalesceKey} IS NOT NULL`),
    ],
  );

  const queueMessagesDlq = table(
    'queue_messages_dlq',
    {
      id: bigserial('id', { mode: 'number' }).primaryKey(),
      originalId: bigint('original_id', { mode: 'number' }).notNull(),
      messageType: text('message_type').notNull(),
      payload: jsonb('payload').notNull(),
      taskId: text('task_id'),
      attempts: integer('attempts').notNull(),
      error: text('error').notNull(),
      lastErrorAt: timestamp('last_error_at', { withTimezone: true, mode: 'date' }),
      createdAt: timestamp('created_at', { withTimezone: true, mode: 'date' }),
      movedAt: timestamp('moved_at', { withTimezone: true, mode: 'date' }).notNull().defaultNow(),
    },
    (t) => [index('idx_queue_dlq_type').on(t.messageType), index('idx_queue_dlq_moved_at').on(t.movedAt)],
  );

  const stageClaims = table(
    'stage_claims',
    {
      executionId: text('execution_id').notNull(),
      /** Namespaced: `mutex:<key>` or `choice:<group>`. */
      claimKey: text('claim_key').notNull(),
      stageId: text('stage_id').notNull(),
      claimedAt: timestamp('claimed_at', { withTimezone: true, mode: 'date' }).notNull().defaultNow(),
    },
    (t) => [primaryKey({ name: 'stage_claims_pkey', columns: [t.executionId, t.claimKey] })],
  );

  /** Stages waiting for a claim (mutex) to be released; their message is pushed when it is, in `seq` order. */
  const stageClaimWaiters = table(
    'stage_claim_waiters',
    {
      executionId: text('execution_id').notNull(),
      claimKey: text('claim_key').notNull(),
      stageId: text('stage_id').notNull(),
      seq: bigserial('seq', { mode: 'number' }).notNull(),
      messageType: text('message_type').notNull(),
      payload: jsonb('payload').notNull(),
      taskId: text('task_id'),
      waitingSince: timestamp('waiting_since', { withTimezone: true, mode: 'date' }).notNull().defaultNow(),
    },
    (t) => [primaryKey({ name: 'stage_claim_waiters_pkey', columns: [t.executionId, t.claimKey, t.stageId] }), index('idx_stage_claim_waiters_order').on(t.executionId, t.claimKey, t.seq)],
  );

  /** Bookkeeping of `stabilize mg-up` (created by the migration runner itself, not by a migration). */
  const stabilizeMigrations = table('stabilize_migrations', {
    id: integer('id').primaryKey().generatedByDefaultAsIdentity(),
    name: text('name').notNull().unique(),
    /** sha256 hex of the whole migration file. */
    checksum: text('checksum').notNull(),
    appliedAt: timestamp('applied_at', { withTimezone: true, mode: 'date' }).notNull().defaultNow(),
  });

  /**
   * Events (the event store, @stabilize/events). `position` stays NULL until `readAll` sequences the
   * event: in (tx_id, id) order, once every transaction that could still commit an earlier one has
   * ended. `workflow_id` columns use the "C" collation.
   */
  const stabilizeEvents = table(
    'stabilize_events',
    {
      id: bigint('id', { mode: 'number' }).primaryKey().generatedAlwaysAsIdentity(),
      position: bigint('position', { mode: 'number' }).unique(),
      txId: xid8('tx_id')
        .notNull()
        .default(sql`pg_current_xact_id()`),
      eventId: text('event_id').notNull().unique(),
      eventType: text('event_type').notNull(),
      entityType: text('entity_type').notNull(),
      entityId: text('entity_id').notNull(),
      workflowId: text('workflow_id').notNull(),
      sequence: integer('sequence').notNull(),
      version: integer('version').notNull().default(0),
      data: jsonb('data').notNull().default({}),
      timestamp: bigint('timestamp', { mode: 'number' }).notNull(),
      correlationId: text('correlation_id').notNull(),
      causationId: text('causation_id'),
      actor: text('actor').notNull().default('system'),
      sourceHandler: text('source_handler'),
      schemaVersion: integer('schema_version').notNull().default(1),
    },
    (t) => [
      unique('stabilize_events_workflow_id_sequence_key').on(t.workflowId, t.sequence),
      index('idx_stabilize_events_unpositioned')
        .on(t.txId, t.id)
        .where(sql`position IS NULL`),
      index('idx_stabilize_events_unpositioned_stream')
        .on(t.workflowId, t.sequence)
        .where(sql`position IS NULL`),
      index('idx_stabilize_events_type_position').on(t.eventType, t.position),
    ],
  );

  /** The last sequence given to an event of each workflow (commits take the next ones under its row lock). */
  const stabilizeEventStreams = table('stabilize_event_streams', {
    workflowId: text('workflow_id').primaryKey(),
    lastSequence: integer('last_sequence').notNull(),
  });

  const stabilizeEventSnapshots = table(
    'stabilize_event_snapshots',
    {
      workflowId: text('workflow_id').notNull(),
      sequence: integer('sequence').notNull(),
      state: jsonb('state').notNull(),
      stateHash: text('state_hash').notNull(),
      createdAt: bigint('created_at', { mode: 'number' }).notNull(),
    },
    (t) => [primaryKey({ name: 'stabilize_event_snapshots_pkey', columns: [t.workflowId, t.sequence] })],
  );

  const stabilizeEventCheckpoints = table('stabilize_event_checkpoints', {
    subscriptionId: text('subscription_id').primaryKey(),
    position: bigint('position', { mode: 'number' }).notNull(),
    updatedAt: bigint('updated_at', { mode: 'number' }).notNull(),
  });

  return {
    pipelineExecutions,
    stageExecutions,
    stageRequisites,
    taskExecutions,
    queueMessages,
    queueMessagesDlq,
    stageClaims,
    stageClaimWaiters,
    stabilizeMigrations,
    stabilizeEvents,
    stabilizeEventStreams,
    stabilizeEventSnapshots,
    stabilizeEventCheckpoints,
  };
}

export type StabilizeTables = ReturnType<typeof stabilizeTables>;

/** The tables in the `public` schema. */
export const tables: StabilizeTables = stabilizeTables();

/** The tables of the event store (created by the `event_sourcing` migration). */
export const EVENT_TABLES = ['stabilize_events', 'stabilize_event_streams', 'stabilize_event_snapshots', 'stabilize_event_checkpoints'] as const;

/** Tables a store or queue needs; their absence means the migrations were not applied. */
export const REQUIRED_TABLES = [
  'pipeline_executions',
  'stage_executions',
  'stage_requisites',
  'task_executions',
  'queue_messages',
  'queue_messages_dlq',
  'stage_claims',
  'stage_claim_waiters',
  'stabilize_migrations',
  ...EVENT_TABLES,
] as const;
