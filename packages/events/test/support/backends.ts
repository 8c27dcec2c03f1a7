// Backends for the event-sourcing tests: in-memory, SQLite files and (with STABILIZE_TEST_PG_URL)
// fresh PostgreSQL schemas, each with its event store, and a factory wrapper that records every
// commit and, on close, checks that replaying each workflow's events gives exactly the stored
// workflow.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Clock, createInMemoryBackend, type EventRecord, type EventStore, InMemoryEventStore, type Queue, type Workflow, type WorkflowStore } from '@stabilize/core';
import type { BackendFactory, BackendUnderTest } from '@stabilize/core/testing';
import { migrate, PostgresEventStore, PostgresQueue, PostgresWorkflowStore } from '@stabilize/store-postgres';
import { openSqliteBackend, SqliteEventStore } from '@stabilize/store-sqlite';
import { configureEventSourcing, EventReplayer, eventSourcedStore, type EventSourcingRecorder } from '../../src/index.js';

export function tempDir(prefix = 'stabilize-events-'): { path: string; file(name?: string): string; remove(): void } {
  const path = mkdtempSync(join(tmpdir(), prefix));
  return { path, file: (name = 'test.db') => join(path, name), remove: () => rmSync(path, { recursive: true, force: true }) };
}

export interface RawBackend {
  store: WorkflowStore;
  queue: Queue;
  events: EventStore;
  close(): Promise<void>;
}

export const inMemory = (clock?: Clock): RawBackend => {
  const { store, queue } = createInMemoryBackend(clock ? { clock } : {});
  return { store, queue, events: new InMemoryEventStore(store), close: async () => {} };
};

export const sqliteFile = (clock?: Clock): RawBackend & { file: string } => {
  const dir = tempDir();
  const file = dir.file('events.db');
  const backend = openSqliteBackend(file, clock ? { clock } : {});
  const events = new SqliteEventStore(file, clock ? { clock } : {});
  return {
    store: backend.store,
    queue: backend.queue,
    events,
    file,
    async close() {
      await events.close();
      await backend.close();
      dir.remove();
    },
  };
};

/** The PostgreSQL server of the PG suites; empty: they are skipped (see test-support/pg-global-setup.ts). */
export const PG_URL = process.env.STABILIZE_TEST_PG_URL ?? '';

/** PG_URL pointing at `schema`. */
export const pgSchemaUrl = (schema: string): string => {
  const url = new URL(PG_URL);
  url.searchParams.set('schema', schema);
  return url.toString();
};

/**
 * How long `readAll` waits for committed events held back by an older open transaction. The test
 * server is shared (other suites run transactions on it at the same time), so the tests wait longer
 * than the default 1000 ms rather than see a partial page; a test that needs a short wait opens its
 * own `PostgresEventStore`.
 */
export const PG_POSITION_WAIT_MS = 15_000;

/** A fresh, migrated schema of PG_URL with a store, a queue and an event store; closing drops it. */
export const postgres = async (clock?: Clock): Promise<RawBackend & { schema: string; url: string; events: PostgresEventStore; store: PostgresWorkflowStore }> => {
  const schema = `es_${randomBytes(6).toString('hex')}`;
  await migrate(PG_URL, { schema });
  const url = pgSchemaUrl(schema);
  const options = { ...(clock ? { clock } : {}), poolSize: 4 };
  const store = new PostgresWorkflowStore(url, options);
  const queue = new PostgresQueue(url, options);
  const events = new PostgresEventStore(url, { ...options, positionWaitMs: PG_POSITION_WAIT_MS });
  return {
    store,
    queue,
    events,
    schema,
    url,
    async close() {
      try {
        await store.backend.raw(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`, [], 'drop test schema');
      } finally {
        await events.close();
        await queue.close();
        await store.close();
      }
    },
  };
};

export interface BackendEntry {
  name: 'in-memory' | 'sqlite-file' | 'postgres';
  open: (clock?: Clock) => RawBackend | Promise<RawBackend>;
}

/**
 * The backends the event-sourcing tests run on: PostgreSQL only with STABILIZE_TEST_PG_URL (without
 * it the global setup prints one skip line, and fails the run when CI=true).
 */
export const BACKENDS: BackendEntry[] = [
  { name: 'in-memory', open: inMemory },
  { name: 'sqlite-file', open: sqliteFile },
  ...(PG_URL ? [{ name: 'postgres' as const, open: postgres }] : []),
];

/**
 * Appends `events` and returns their positions, in the same order, as `readAll` gives them: on
 * PostgreSQL `append` leaves `position` 0 and the positions are assigned when `readAll` sequences
 * committed events. Fails unless every appended event is read back.
 */
export async function appendPositions(events: EventStore, records: EventRecord[]): Promise<number[]> {
  const appended = await events.append(records);
  const wanted = new Set(appended.map((e) => e.eventId));
  const found = new Map<string, number>();
  let afterPosition = 0;
  for (;;) {
    const page = await events.readAll({ afterPosition, limit: 1000 });
    if (page.length === 0) break;
    for (const e of page) if (wanted.has(e.eventId)) found.set(e.eventId, e.position);
    afterPosition = page.at(-1)!.position;
  }
  const missing = appended.filter((e) => !found.has(e.eventId)).map((e) => e.eventId);
  if (missing.length > 0) throw new Error(`appended events not returned by readAll: ${missing.join(', ')}`);
  return appended.map((e) => found.get(e.eventId)!);
}

/** JSON form of a workflow, for field-by-field comparison. */
export const plain = (workflow: Workflow): unknown => JSON.parse(JSON.stringify(workflow));

/** Paths at which two JSON values differ (at most `max`). */
export function differences(a: unknown, b: unknown, path = '', out: string[] = [], max = 10): string[] {
  if (out.length >= max) return out;
  if (a === b) return out;
  if (a === null || b === null || typeof a !== 'object' || typeof b !== 'object' || Array.isArray(a) !== Array.isArray(b)) {
    out.push(`${path || '<root>'}: ${JSON.stringify(a)?.slice(0, 200)} != ${JSON.stringify(b)?.slice(0, 200)}`);
    return out;
  }
  const keys = new Set([...Object.keys(a as object), ...Object.keys(b as object)]);
  for (const k of keys) differences((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k], `${path}.${k}`, out, max);
  return out;
}

/** Replays every workflow of the store and lists how each differs from the stored one. */
export async function replayMismatches(store: WorkflowStore, events: EventStore): Promise<{ checked: Workflow[]; mismatches: string[] }> {
  const replayer = new EventReplayer(events);
  const checked: Workflow[] = [];
  const mismatches: string[] = [];
  let afterId: string | undefined;
  for (;;) {
    const page = await store.listWorkflows({ limit: 500, ...(afterId ? { afterId } : {}) });
    if (page.length === 0) break;
    for (const row of page) {
      const stored = await store.retrieve(row.id);
      const replayed = await replayer.rebuildWorkflowState(row.id);
      const diff = differences(plain(stored), plain(replayed));
      if (diff.length > 0) mismatches.push(`workflow ${row.id} (${stored.name}, ${stored.status}):\n  ${diff.join('\n  ')}`);
      checked.push(stored);
    }
    afterId = page[page.length - 1]!.id;
  }
  return { checked, mismatches };
}

export const replayStats = { workflows: 0, finished: 0, stages: 0, synthetic: 0, backends: 0 };

/**
 * `base` with event sourcing on every commit (the store is wrapped, so workflows stored directly are
 * recorded too); closing it first checks that replay equals the stored state for every workflow.
 */
export function eventSourcedFactory(name: string, open: (clock: Clock) => RawBackend | Promise<RawBackend>): BackendFactory {
  return {
    name,
    providesEvents: false, // the event-store contract counts events and must not see the recorder's
    providesCorruption: false, // corrupt rows are the stores' own conformance runs (they have the hook)
    async create(clock: Clock): Promise<BackendUnderTest> {
      const raw = await open(clock);
      const recorder: EventSourcingRecorder = configureEventSourcing(raw.events, { clock });
      const store = eventSourcedStore(raw.store, recorder);
      return {
        store,
        queue: raw.queue,
        // no `events`: the event-store contract counts events and must not see the recorder's
        async close() {
          try {
            const { checked, mismatches } = await replayMismatches(raw.store, raw.events);
            replayStats.backends += 1;
            replayStats.workflows += checked.length;
            replayStats.finished += checked.filter((w) => w.endTime !== null).length;
            replayStats.stages += checked.reduce((n, w) => n + w.stages.length, 0);
            replayStats.synthetic += checked.reduce((n, w) => n + w.stages.filter((s) => s.parentStageId !== null).length, 0);
            if (mismatches.length > 0) throw new Error(`replay differs from the stored state:\n${mismatches.join('\n')}`);
          } finally {
            await raw.close();
          }
        },
      };
    },
  };
}
