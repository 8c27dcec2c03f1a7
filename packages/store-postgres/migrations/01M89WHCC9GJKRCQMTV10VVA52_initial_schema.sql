-- migration: initial_schema
-- id: 01M89WHCC9GJKRCQMTV10VVA52
--
-- The whole Stabilize schema: workflows, stages, tasks, the message queue and its dead letters,
-- stage claims and their waiters. Domain times are epoch milliseconds (BIGINT); queue bookkeeping times are
-- timestamptz from the database clock. Workflow ids use the "C" collation so listing and keyset
-- pagination order them by code point whatever the database's locale. Objects are created
-- unqualified: the migration runner sets search_path to the target schema.

-- migrate: up

CREATE TABLE pipeline_executions (
    id                          TEXT COLLATE "C" PRIMARY KEY,
    type                        TEXT NOT NULL,
    application                 TEXT NOT NULL,
    name                        TEXT,
    status                      TEXT NOT NULL,
    start_time                  BIGINT,
    end_time                    BIGINT,
    start_time_expiry           BIGINT,
    trigger                     JSONB,
    context                     JSONB,
    is_canceled                 BOOLEAN NOT NULL DEFAULT FALSE,
    canceled_by                 TEXT,
    cancellation_reason         TEXT,
    paused                      JSONB,
    pipeline_config_id          TEXT,
    is_limit_concurrent         BOOLEAN NOT NULL DEFAULT FALSE,
    max_concurrent_executions   INTEGER NOT NULL DEFAULT 0,
    keep_waiting_pipelines      BOOLEAN NOT NULL DEFAULT FALSE,
    origin                      TEXT NOT NULL DEFAULT 'unknown',
    config_version              TEXT,
    created_at                  BIGINT NOT NULL DEFAULT ((extract(epoch from now()) * 1000)::bigint)
);

CREATE INDEX idx_executions_application ON pipeline_executions (application);
CREATE INDEX idx_executions_config_id ON pipeline_executions (pipeline_config_id);
CREATE INDEX idx_executions_status ON pipeline_executions (status);
CREATE INDEX idx_execution_created_at ON pipeline_executions (created_at DESC);
CREATE INDEX idx_execution_application_status ON pipeline_executions (application, status);
CREATE INDEX idx_execution_config_status ON pipeline_executions (pipeline_config_id, status);

CREATE TABLE stage_executions (
    id                          TEXT PRIMARY KEY,
    execution_id                TEXT COLLATE "C" NOT NULL REFERENCES pipeline_executions (id) ON DELETE CASCADE,
    position                    BIGSERIAL NOT NULL,
    ref_id                      TEXT NOT NULL,
    type                        TEXT NOT NULL,
    name                        TEXT,
    status                      TEXT NOT NULL,
    context                     JSONB NOT NULL DEFAULT '{}',
    outputs                     JSONB NOT NULL DEFAULT '{}',
    requisite_stage_ref_ids     TEXT[] NOT NULL DEFAULT '{}'::text[],
    parent_stage_id             TEXT,
    synthetic_stage_owner       TEXT,
    start_time                  BIGINT,
    end_time                    BIGINT,
    start_time_expiry           BIGINT,
    scheduled_time              BIGINT,
    version                     INTEGER NOT NULL DEFAULT 0,
    join_type                   TEXT NOT NULL DEFAULT 'AND',
    join_threshold              INTEGER NOT NULL DEFAULT 0,
    split_type                  TEXT NOT NULL DEFAULT 'AND',
    split_conditions            JSONB NOT NULL DEFAULT '{}',
    mi_config                   JSONB,
    deferred_choice_group       TEXT,
    milestone_ref_id            TEXT,
    milestone_status            TEXT,
    mutex_key                   TEXT,
    cancel_region               TEXT,
    output_reducers             JSONB NOT NULL DEFAULT '{}',
    ancestor_outputs            JSONB
) WITH (fillfactor = 80);

CREATE INDEX idx_stage_execution ON stage_executions (execution_id, position);
CREATE INDEX idx_stage_parent ON stage_executions (parent_stage_id) WHERE parent_stage_id IS NOT NULL;
CREATE INDEX idx_stage_execution_ref ON stage_executions (execution_id, ref_id);

CREATE TABLE stage_requisites (
    execution_id                TEXT NOT NULL,
    stage_id                    TEXT NOT NULL REFERENCES stage_executions (id) ON DELETE CASCADE,
    requisite_ref_id            TEXT NOT NULL,
    CONSTRAINT stage_requisites_pkey PRIMARY KEY (stage_id, requisite_ref_id)
);

CREATE INDEX idx_stage_requisites_downstream ON stage_requisites (execution_id, requisite_ref_id);

CREATE TABLE task_executions (
    id                          TEXT PRIMARY KEY,
    stage_id                    TEXT NOT NULL REFERENCES stage_executions (id) ON DELETE CASCADE,
    position                    INTEGER NOT NULL,
    name                        TEXT NOT NULL,
    implementing_class          TEXT NOT NULL,
    status                      TEXT NOT NULL,
    start_time                  BIGINT,
    end_time                    BIGINT,
    stage_start                 BOOLEAN NOT NULL DEFAULT FALSE,
    stage_end                   BOOLEAN NOT NULL DEFAULT FALSE,
    loop_start                  BOOLEAN NOT NULL DEFAULT FALSE,
    loop_end                    BOOLEAN NOT NULL DEFAULT FALSE,
    task_exception_details      JSONB NOT NULL DEFAULT '{}',
    version                     INTEGER NOT NULL DEFAULT 0
) WITH (fillfactor = 80);

CREATE INDEX idx_task_stage ON task_executions (stage_id, position);

CREATE TABLE queue_messages (
    id                          BIGSERIAL PRIMARY KEY,
    message_type                TEXT NOT NULL,
    payload                     JSONB NOT NULL,
    task_id                     TEXT,
    deliver_at                  TIMESTAMPTZ NOT NULL DEFAULT now(),
    attempts                    INTEGER NOT NULL DEFAULT 0,
    max_attempts                INTEGER NOT NULL DEFAULT 10,
    lease_token                 UUID,
    lease_until                 TIMESTAMPTZ,
    last_error                  TEXT,
    -- Set while the row was never delivered: a push with the same key may be dropped meanwhile.
    coalesce_key                TEXT,
    created_at                  TIMESTAMPTZ NOT NULL DEFAULT now()
) WITH (fillfactor = 70, autovacuum_vacuum_scale_factor = 0.02, autovacuum_analyze_scale_factor = 0.05);

CREATE INDEX idx_queue_deliver ON queue_messages (deliver_at, id);
CREATE INDEX idx_queue_messages_task_id ON queue_messages (task_id) WHERE task_id IS NOT NULL;
CREATE INDEX idx_queue_coalesce ON queue_messages (coalesce_key) WHERE coalesce_key IS NOT NULL;

CREATE TABLE queue_messages_dlq (
    id                          BIGSERIAL PRIMARY KEY,
    original_id                 BIGINT NOT NULL,
    message_type                TEXT NOT NULL,
    payload                     JSONB NOT NULL,
    task_id                     TEXT,
    attempts                    INTEGER NOT NULL,
    error                       TEXT NOT NULL,
    last_error_at               TIMESTAMPTZ,
    created_at                  TIMESTAMPTZ,
    moved_at                    TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE INDEX idx_queue_dlq_type ON queue_messages_dlq (message_type);
CREATE INDEX idx_queue_dlq_moved_at ON queue_messages_dlq (moved_at);

CREATE TABLE stage_claims (
    execution_id                TEXT NOT NULL,
    claim_key                   TEXT NOT NULL,
    stage_id                    TEXT NOT NULL,
    claimed_at                  TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT stage_claims_pkey PRIMARY KEY (execution_id, claim_key)
);

-- Stages waiting for a claim (mutex) to be released: their message is pushed when it is, in the
-- order they started waiting (seq). One waiter per stage and claim.
CREATE TABLE stage_claim_waiters (
    execution_id                TEXT NOT NULL,
    claim_key                   TEXT NOT NULL,
    stage_id                    TEXT NOT NULL,
    seq                         BIGSERIAL NOT NULL,
    message_type                TEXT NOT NULL,
    payload                     JSONB NOT NULL,
    task_id                     TEXT,
    waiting_since               TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT stage_claim_waiters_pkey PRIMARY KEY (execution_id, claim_key, stage_id)
);

CREATE INDEX idx_stage_claim_waiters_order ON stage_claim_waiters (execution_id, claim_key, seq);

-- Aborts the statement that calls it (and so its whole implicit transaction) when `ok` is false.
-- A commit is one statement whose last step asserts every precondition (lease held, versions and
-- statuses as expected, claims granted); `failures` names the ones that did not hold.
CREATE FUNCTION stabilize_assert(ok BOOLEAN, failures TEXT) RETURNS BOOLEAN
LANGUAGE plpgsql AS $$
BEGIN
    IF ok IS NOT TRUE THEN
        RAISE EXCEPTION 'stabilize commit precondition failed: %', failures USING ERRCODE = 'SZ001', DETAIL = failures;
    END IF;
    RETURN TRUE;
END
$$;

-- migrate: down

DROP FUNCTION IF EXISTS stabilize_assert(BOOLEAN, TEXT);
DROP TABLE IF EXISTS stage_claim_waiters;
DROP TABLE IF EXISTS stage_claims;
DROP TABLE IF EXISTS queue_messages_dlq;
DROP TABLE IF EXISTS queue_messages;
DROP TABLE IF EXISTS task_executions;
DROP TABLE IF EXISTS stage_requisites;
DROP TABLE IF EXISTS stage_executions;
DROP TABLE IF EXISTS pipeline_executions;
