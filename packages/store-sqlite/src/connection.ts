// One better-sqlite3 connection per database per process, shared (ref-counted) by every store and
// queue opened on it. Sharing is what makes the outbox atomic: a commit writes state and queue
// rows on the same connection, in one transaction. The connection also carries the statement
// cache and the in-process wake-up signal of waiting workers.
import { type FSWatcher, watch } from 'node:fs';
import { basename, dirname } from 'node:path';
import { ConfigurationError } from '@stabilize/core';
import Database from 'better-sqlite3';
import { type BetterSQLite3Database, drizzle } from 'drizzle-orm/better-sqlite3';
import { QUEUE_DDL, STORE_DDL } from './ddl.js';
import { parseSqliteUrl, type SqliteLocation } from './url.js';

/** Connection settings; the first opener of a database decides them for the whole process. */
export interface SqliteConnectionOptions {
  /** How long a writer waits for another process's write lock. Default 30 000 ms. */
  busyTimeoutMs?: number;
  /** Page cache size in KiB. Default 32 000. */
  cacheSizeKiB?: number;
  /**
   * Watch the database's WAL file so workers waiting in another process wake up on a commit here
   * (fs.watch plus PRAGMA data_version). The bounded wait stays the fallback. Default true.
   */
  watchForChanges?: boolean;
}

type TransactionRunner = Database.Transaction<(fn: () => unknown) => unknown>;

export class SqliteConnection {
  readonly db: Database.Database;
  readonly orm: BetterSQLite3Database;
  private refs = 0;
  private readonly statements = new Map<string, Database.Statement>();
  private readonly runner: TransactionRunner;
  private readonly waiters = new Set<() => void>();
  private readonly watchForChanges: boolean;
  private watcher: FSWatcher | null = null;
  private dataVersion = 0;
  private signals = 0;
  private storeSchemaReady = false;
  private batch: { started: number; writes: number; timer: NodeJS.Immediate } | null = null;
  private readonly afterFlush: Array<() => void> = [];
  private queueSchemaReady = false;

  constructor(
    readonly location: SqliteLocation,
    options: SqliteConnectionOptions = {},
  ) {
    const busyTimeoutMs = Math.max(0, Math.floor(options.busyTimeoutMs ?? 30_000));
    try {
      this.db = new Database(location.filename, { timeout: busyTimeoutMs });
    } catch (error) {
      throw new ConfigurationError(`Cannot open SQLite database ${location.filename}: ${(error as Error).message}`, { cause: error });
    }
    try {
      if (!location.memory) {
        // busy_timeout first: switching to WAL itself may have to wait for another process.
        this.db.pragma(`busy_timeout = ${busyTimeoutMs}`);
        this.db.pragma('journal_mode = WAL');
        this.db.pragma('synchronous = NORMAL'); // with WAL: no fsync per commit, never corrupt
        this.db.pragma(`cache_size = -${Math.max(0, Math.floor(options.cacheSizeKiB ?? 32_000))}`);
        this.db.pragma('temp_store = MEMORY');
      }
      this.db.pragma('foreign_keys = ON');
    } catch (error) {
      this.db.close();
      throw error;
    }
    this.orm = drizzle(this.db);
    this.runner = this.db.transaction((fn: () => unknown) => fn());
    this.watchForChanges = !location.memory && options.watchForChanges !== false;
    if (this.watchForChanges) this.dataVersion = this.currentDataVersion();
  }

  /** A prepared statement, compiled once per connection. */
  statement(sql: string): Database.Statement {
    let statement = this.statements.get(sql);
    if (!statement) {
      statement = this.db.prepare(sql);
      this.statements.set(sql, statement);
    }
    return statement;
  }

  /**
   * Runs `fn` as one write transaction (BEGIN IMMEDIATE: the write lock is taken up front, so two
   * writers never deadlock upgrading read locks). `fn` must be synchronous; a throw rolls back.
   *
   * Group commit: a `groupable` write (the processor's handler commits) joins an open batch as a
   * savepoint, so many handler transactions share one SQLite commit. The batch commits at the end of
   * the current event-loop turn, after 64 writes or 10 ms, and at once when a non-groupable write
   * (any caller outside the processor) or a close comes along. Each write is still all-or-nothing:
   * a throw rolls back its savepoint only. A crash loses the open batch as a whole, exactly like a
   * crash just before those commits: their messages are delivered again.
   */
  write<T>(fn: () => T, groupable = false): T {
    if (!this.batch) {
      if (!groupable) return this.runner.immediate(fn) as T;
      this.db.exec('BEGIN IMMEDIATE');
      this.batch = { started: performance.now(), writes: 0, timer: setImmediate(() => this.flush()) };
    }
    const result = this.runner(fn) as T; // nested in the batch: a savepoint
    this.batch.writes += 1;
    if (!groupable || this.batch.writes >= 64 || performance.now() - this.batch.started > 10) this.flush();
    return result;
  }

  /** Commits the open batch, if any, and runs the callbacks waiting for it. */
  flush(): void {
    const batch = this.batch;
    if (!batch) return;
    this.batch = null;
    clearImmediate(batch.timer);
    if (this.db.inTransaction) this.db.exec('COMMIT');
    const callbacks = this.afterFlush.splice(0);
    for (const callback of callbacks) callback();
  }

  /** Runs `callback` once everything written so far is durably committed. */
  whenFlushed(callback: () => void): void {
    if (this.batch) this.afterFlush.push(callback);
    else callback();
  }

  /** Runs several reads on one consistent snapshot (BEGIN DEFERRED; never blocks writers in WAL). */
  read<T>(fn: () => T): T {
    if (this.db.inTransaction) return fn();
    return this.runner.deferred(fn) as T;
  }

  /** Creates the tables (IF NOT EXISTS) once per connection. */
  ensureSchema(which: 'store' | 'queue'): void {
    if (which === 'store' && !this.storeSchemaReady) {
      this.write(() => this.db.exec(STORE_DDL + QUEUE_DDL));
      this.storeSchemaReady = this.queueSchemaReady = true;
    } else if (which === 'queue' && !this.queueSchemaReady) {
      this.write(() => this.db.exec(QUEUE_DDL));
      this.queueSchemaReady = true;
    }
  }

  /**
   * A counter that moves on every wake-up: `notify` here, or a commit by another connection (seen
   * through PRAGMA data_version). A queue compares it with the value at its last poll so that a
   * wake-up arriving while nobody waited is not slept through.
   */
  signalCount(): number {
    if (this.watchForChanges && this.sawForeignCommit()) this.signals += 1;
    return this.signals;
  }

  /** Wakes every worker of this process waiting on this database. */
  notify(): void {
    this.signals += 1;
    const waiters = [...this.waiters];
    this.waiters.clear();
    for (const wake of waiters) wake();
  }

  /** Resolves on `notify()` (or a commit by another process, when watched), after `maxWaitMs`, or on abort. */
  waitForChange(maxWaitMs: number, signal?: AbortSignal): Promise<void> {
    if (signal?.aborted || !this.db.open) return Promise.resolve();
    this.startWatching();
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

  /**
   * Cross-process wake-up: every commit appends to `<file>-wal`. We watch the directory (the WAL file
   * comes and goes) and wake waiters when PRAGMA data_version says another connection committed;
   * our own commits do not change it, so they cause no spurious wake-ups. Any failure only disables
   * this shortcut: waiters still return after their bounded wait.
   */
  private startWatching(): void {
    if (!this.watchForChanges || this.watcher) return;
    const file = basename(this.location.filename);
    const names = new Set([file, `${file}-wal`]);
    try {
      this.watcher = watch(dirname(this.location.filename), { persistent: false }, (_event, name) => {
        if (name !== null && !names.has(name.toString())) return;
        // Without waiters the change stays unseen here; the next signalCount() counts it.
        if (this.waiters.size > 0 && this.sawForeignCommit()) this.notify();
      });
      this.watcher.on('error', () => this.stopWatching());
    } catch {
      this.watcher = null;
    }
  }

  /** Whether another connection committed since the last call (PRAGMA data_version moved). */
  private sawForeignCommit(): boolean {
    if (!this.db.open) return false;
    const version = this.currentDataVersion();
    if (version === this.dataVersion) return false;
    this.dataVersion = version;
    return true;
  }

  private stopWatching(): void {
    this.watcher?.close();
    this.watcher = null;
  }

  private currentDataVersion(): number {
    return this.statement('PRAGMA data_version').pluck().get() as number;
  }

  retain(): void {
    this.refs += 1;
  }

  /** Drops one reference; the last one closes the database. Returns true when it was closed. */
  release(): boolean {
    this.refs -= 1;
    if (this.refs > 0) return false;
    if (this.db.open) this.flush();
    this.stopWatching();
    this.notify();
    this.statements.clear();
    if (this.db.open) this.db.close();
    return true;
  }
}

const connections = new Map<string, SqliteConnection>();

/** The shared connection for `url` (opened on first use). Pair every call with `releaseConnection`. */
export function acquireConnection(url: string, options: SqliteConnectionOptions = {}): SqliteConnection {
  const location = parseSqliteUrl(url);
  let connection = connections.get(location.key);
  if (!connection) {
    connection = new SqliteConnection(location, options);
    connections.set(location.key, connection);
  }
  connection.retain();
  return connection;
}

export function releaseConnection(connection: SqliteConnection): void {
  if (connection.release() && connections.get(connection.location.key) === connection) connections.delete(connection.location.key);
}
