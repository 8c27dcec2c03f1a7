// CREATE statements for the tables of `schema.ts` (kept in step with it; see test/schema.test.ts).
// Everything is IF NOT EXISTS, so running the DDL again, from any process, is harmless.

export const STORE_DDL = `
CREATE TABLE IF NOT EXISTS pipeline_executions (
  id TEXT PRIMARY KEY NOT NULL,
  type TEXT NOT NULL,
  application TEXT NOT NULL,
  name TEXT NOT NULL,
  status TEXT NOT NULL,
  context TEXT NOT NULL DEFAULT '{}',
  trigger TEXT NOT NULL DEFAULT '{}',
  start_time INTEGER,
  end_time INTEGER,
  start_time_expiry INTEGER,
  is_canceled INTEGER NOT NULL DEFAULT 0,
  canceled_by TEXT,
  cancellation_reason TEXT,
  paused TEXT,
  pipeline_config_id TEXT,
  is_limit_concurrent INTEGER NOT NULL DEFAULT 0,
  max_concurrent_executions INTEGER NOT NULL DEFAULT 0,
  keep_waiting_pipelines INTEGER NOT NULL DEFAULT 0,
  origin TEXT NOT NULL DEFAULT 'unknown',
  config_version TEXT,
  created_at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS idx_pipeline_executions_application ON pipeline_executions (application, id);
CREATE INDEX IF NOT EXISTS idx_pipeline_executions_config_status ON pipeline_executions (pipeline_config_id, status);
CREATE INDEX IF NOT EXISTS idx_pipeline_executions_status ON pipeline_executions (status);

CREATE TABLE IF NOT EXISTS stage_executions (
  id TEXT PRIMARY KEY NOT NULL,
  execution_id TEXT NOT NULL REFERENCES pipeline_executions (id) ON DELETE CASCADE,
  position INTEGER NOT NULL,
  ref_id TEXT NOT NULL,
  type TEXT NOT NULL,
  name TEXT NOT NULL,
  status TEXT NOT NULL,
  context TEXT NOT NULL DEFAULT '{}',
  outputs TEXT NOT NULL DEFAULT '{}',
  requisite_stage_ref_ids TEXT NOT NULL DEFAULT '[]',
  parent_stage_id TEXT,
  synthetic_stage_owner TEXT,
  start_time INTEGER,
  end_time INTEGER,
  start_time_expiry INTEGER,
  scheduled_time INTEGER,
  version INTEGER NOT NULL DEFAULT 0,
  join_type TEXT NOT NULL DEFAULT 'AND',
  join_threshold INTEGER NOT NULL DEFAULT 0,
  split_type TEXT NOT NULL DEFAULT 'AND',
  split_conditions TEXT NOT NULL DEFAULT '{}',
  mi_config TEXT,
  deferred_choice_group TEXT,
  milestone_ref_id TEXT,
  milestone_status TEXT,
  mutex_key TEXT,
  cancel_region TEXT,
  output_reducers TEXT NOT NULL DEFAULT '{}',
  ancestor_outputs TEXT
);
CREATE INDEX IF NOT EXISTS idx_stage_executions_execution_position ON stage_executions (execution_id, position);
CREATE INDEX IF NOT EXISTS idx_stage_executions_execution_ref ON stage_executions (execution_id, ref_id);
CREATE INDEX IF NOT EXISTS idx_stage_executions_parent_position ON stage_executions (parent_stage_id, position);

CREATE TABLE IF NOT EXISTS stage_requisites (
  execution_id TEXT NOT NULL,
  stage_id TEXT NOT NULL REFERENCES stage_executions (id) ON DELETE CASCADE,
  requisite_ref_id TEXT NOT NULL,
  PRIMARY KEY (stage_id, requisite_ref_id)
);
CREATE INDEX IF NOT EXISTS idx_stage_requisites_execution_ref ON stage_requisites (execution_id, requisite_ref_id, stage_id);

CREATE TABLE IF NOT EXISTS task_executions (
  id TEXT PRIMARY KEY NOT NULL,
  stage_id TEXT NOT NULL REFERENCES stage_executions (id) ON DELETE CASCADE,
  position INTEGER NOT NULL,
  name TEXT NOT NULL,
  implementing_class TEXT NOT NULL,
  status TEXT NOT NULL,
  start_time INTEGER,
  end_time INTEGER,
  stage_start INTEGER NOT NULL DEFAULT 0,
  stage_end INTEGER NOT NULL DEFAULT 0,
  loop_start INTEGER NOT NULL DEFAULT 0,
  loop_end INTEGER NOT NULL DEFAULT 0,
  task_exception_details TEXT NOT NULL DEFAULT '{}',
  version INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS idx_task_executions_stage_position ON task_executions (stage_id, position);

CREATE TABLE IF NOT EXISTS stage_claims (
  execution_id TEXT NOT NULL,
  claim_key TEXT NOT NULL,
  stage_id TEXT NOT NULL,
  claimed_at INTEGER NOT NULL,
  PRIMARY KEY (execution_id, claim_key)
);

CREATE TABLE IF NOT EXISTS stage_claim_waiters (
  execution_id TEXT NOT NULL,
  claim_key TEXT NOT NULL,
  stage_id TEXT NOT NULL,
  position INTEGER NOT NULL,
  message TEXT NOT NULL,
  waiting_since INTEGER NOT NULL,
  PRIMARY KEY (execution_id, claim_key, stage_id)
);
CREATE INDEX IF NOT EXISTS idx_stage_claim_waiters_order ON stage_claim_waiters (execution_id, claim_key, position);
`;

export const QUEUE_DDL = `
CREATE TABLE IF NOT EXISTS queue_messages (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  message_type TEXT NOT NULL,
  payload TEXT NOT NULL,
  execution_id TEXT,
  task_id TEXT,
  deliver_at INTEGER NOT NULL,
  lease_until INTEGER,
  lease_token TEXT,
  attempts INTEGER NOT NULL DEFAULT 0,
  max_attempts INTEGER NOT NULL DEFAULT 10,
  last_error TEXT,
  created_at INTEGER NOT NULL,
  dedupe_key TEXT
);
CREATE INDEX IF NOT EXISTS idx_queue_messages_deliver ON queue_messages (deliver_at, id);
CREATE INDEX IF NOT EXISTS idx_queue_messages_dedupe ON queue_messages (dedupe_key) WHERE dedupe_key IS NOT NULL;
CREATE INDEX IF NOT EXISTS idx_queue_messages_lease ON queue_messages (lease_until);
CREATE INDEX IF NOT EXISTS idx_queue_messages_task ON queue_messages (task_id);

CREATE TABLE IF NOT EXISTS queue_messages_dlq (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  original_id INTEGER NOT NULL,
  message_type TEXT NOT NULL,
  payload TEXT NOT NULL,
  execution_id TEXT,
  task_id TEXT,
  attempts INTEGER NOT NULL,
  max_attempts INTEGER NOT NULL,
  error TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  moved_at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS idx_queue_messages_dlq_type ON queue_messages_dlq (message_type, id);
`;
