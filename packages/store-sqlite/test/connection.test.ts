import { existsSync } from 'node:fs';
import { ManualClock, Messages } from '@stabilize/core';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openSqliteBackend, SqliteQueue, SqliteWorkflowStore } from '../src/index.js';
import { tempDir } from './support/temp.js';

const tables = (db: { prepare(sql: string): { all(): unknown[] } }) =>
  (db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name").all() as Array<{ name: string }>).map((r) => r.name);

describe('connections', () => {
  let dir: ReturnType<typeof tempDir>;
  beforeEach(() => {
    dir = tempDir();
  });
  afterEach(() => dir.remove());

  it('shares one connection between a store and a queue on the same file, whatever the spelling', async () => {
    const file = dir.file();
    const store = new SqliteWorkflowStore(`sqlite:///${file}`);
    const queue = new SqliteQueue(file);
    expect(queue.database).toBe(store.database);
    await store.close();
    // The queue still holds a reference: the connection stays open.
    await queue.push(Messages.startWorkflow('w'));
    expect(await queue.size()).toBe(1);
    const db = queue.database;
    await queue.close();
    expect(db.open).toBe(false);
  });

  it('opens a new connection after the last one closed, and close is idempotent', async () => {
    const file = dir.file();
    const first = new SqliteQueue(file);
    const db = first.database;
    await first.close();
    await first.close();
    const second = new SqliteQueue(file);
    expect(second.database).not.toBe(db);
    expect(second.database.open).toBe(true);
    await second.close();
    await expect(second.size()).rejects.toThrow(/closed/);
  });

  it('sets the file pragmas: WAL, synchronous NORMAL, busy timeout, foreign keys, cache, temp store', async () => {
    const store = new SqliteWorkflowStore(dir.file());
    const db = store.database;
    expect(db.pragma('journal_mode', { simple: true })).toBe('wal');
    expect(db.pragma('synchronous', { simple: true })).toBe(1);
    expect(db.pragma('busy_timeout', { simple: true })).toBe(30_000);
    expect(db.pragma('foreign_keys', { simple: true })).toBe(1);
    expect(db.pragma('cache_size', { simple: true })).toBe(-32_000);
    expect(db.pragma('temp_store', { simple: true })).toBe(2);
    await store.close();
  });

  it('takes busy timeout and cache size from the options', async () => {
    const store = new SqliteWorkflowStore(dir.file(), { busyTimeoutMs: 1234, cacheSizeKiB: 1000 });
    expect(store.database.pragma('busy_timeout', { simple: true })).toBe(1234);
    expect(store.database.pragma('cache_size', { simple: true })).toBe(-1000);
    await store.close();
  });

  it('in-memory: one database per process for every in-memory spelling; foreign keys on', async () => {
    const store = new SqliteWorkflowStore('sqlite::memory:', { createTables: true });
    const queue = new SqliteQueue('sqlite:///:memory:');
    expect(queue.database).toBe(store.database);
    expect(store.database.pragma('foreign_keys', { simple: true })).toBe(1);
    await queue.push(Messages.startWorkflow('w'));
    await queue.close();
    await store.close();
    // The last release dropped the in-memory database: a new opener starts empty.
    const again = new SqliteQueue('sqlite::memory:');
    expect(await again.size()).toBe(0);
    await again.close();
  });

  it('creates every table by default; the queue alone with createTables:false creates only its own', async () => {
    const queueOnly = new SqliteQueue(dir.file('queue.db'), { createTables: false });
    expect(tables(queueOnly.database)).toEqual(['queue_messages', 'queue_messages_dlq']);
    await queueOnly.close();
    const bare = new SqliteWorkflowStore(dir.file('bare.db'), { createTables: false });
    expect(tables(bare.database)).toEqual([]);
    await bare.close();
    const { store, queue, close } = openSqliteBackend(dir.file('all.db'));
    expect(tables(store.database)).toEqual(['pipeline_executions', 'queue_messages', 'queue_messages_dlq', 'stage_claim_waiters', 'stage_claims', 'stage_executions', 'stage_requisites', 'task_executions']);
    expect(queue.database).toBe(store.database);
    await close();
  });

  it('is safe to open on an existing database again (IF NOT EXISTS)', async () => {
    const file = dir.file();
    const clock = new ManualClock();
    const a = openSqliteBackend(file, { clock });
    await a.queue.push(Messages.startWorkflow('w'));
    await a.close();
    const b = openSqliteBackend(file, { clock });
    expect(await b.queue.size()).toBe(1);
    await b.close();
  });

  it('reports a missing directory as a configuration error', () => {
    expect(() => new SqliteQueue(dir.file('missing/dir/x.db'))).toThrow(/Cannot open SQLite database/);
    expect(existsSync(dir.file('missing'))).toBe(false);
  });
});
