-- migration: event_sourcing
-- id: 01M8A5GEY64WJQH5PJQV5SBPRC
--
-- The event store (@stabilize/events): events written by `commit` in the same transaction as the
-- state they describe, per-workflow sequence counters, snapshots and subscription checkpoints.
--
-- Global order: a commit stores its transaction id (`tx_id`) and leaves `position` NULL. Readers
-- (`readAll`) first position, in (tx_id, id) order (each workflow's events in sequence order), the
-- events whose transaction is below the oldest transaction still running (the xid horizon), one
-- sequencer at a time; only positioned events are read. An event can then never get a position below
-- one a reader has already seen. Needs PostgreSQL 13 or newer (xid8).
-- migrate: up
CREATE TABLE stabilize_events (
    id              BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    position        BIGINT UNIQUE,
    tx_id           xid8 NOT NULL DEFAULT pg_current_xact_id(),
    event_id        TEXT NOT NULL UNIQUE,
    event_type      TEXT NOT NULL,
    entity_type     TEXT NOT NULL,
    entity_id       TEXT NOT NULL,
    workflow_id     TEXT COLLATE "C" NOT NULL,
    sequence        INTEGER NOT NULL,
    version         INTEGER NOT NULL DEFAULT 0,
    data            JSONB NOT NULL DEFAULT '{}',
    "timestamp"     BIGINT NOT NULL,
    correlation_id  TEXT NOT NULL,
    causation_id    TEXT,
    actor           TEXT NOT NULL DEFAULT 'system',
    source_handler  TEXT,
    schema_version  INTEGER NOT NULL DEFAULT 1,
    UNIQUE (workflow_id, sequence)
);
CREATE INDEX idx_stabilize_events_unpositioned ON stabilize_events (tx_id, id) WHERE position IS NULL;
-- The sequencer keeps each workflow's positions in sequence order (see src/events.ts).
CREATE INDEX idx_stabilize_events_unpositioned_stream ON stabilize_events (workflow_id, sequence) WHERE position IS NULL;
CREATE INDEX idx_stabilize_events_type_position ON stabilize_events (event_type, position);

CREATE TABLE stabilize_event_streams (
    workflow_id     TEXT COLLATE "C" PRIMARY KEY,
    last_sequence   INTEGER NOT NULL
);

CREATE TABLE stabilize_event_snapshots (
    workflow_id     TEXT COLLATE "C" NOT NULL,
    sequence        INTEGER NOT NULL,
    state           JSONB NOT NULL,
    state_hash      TEXT NOT NULL,
    created_at      BIGINT NOT NULL,
    PRIMARY KEY (workflow_id, sequence)
);

CREATE TABLE stabilize_event_checkpoints (
    subscription_id TEXT PRIMARY KEY,
    position        BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL
);

-- migrate: down
DROP TABLE IF EXISTS stabilize_event_checkpoints;
DROP TABLE IF EXISTS stabilize_event_snapshots;
DROP TABLE IF EXISTS stabilize_event_streams;
DROP TABLE IF EXISTS stabilize_events;
