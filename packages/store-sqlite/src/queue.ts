import { randomUUID } from 'node:crypto';
import { type Clock, type DeadLetter, type Delivery, type Message, type PollOptions, type PushOptions, type Queue, type QueueStats, StabilizeError, systemClock } from '@stabilize/core';
import type Database from 'better-sqlite3';
import { asc, count, eq } from 'drizzle-orm';
import { acquireConnection, releaseConnection, type SqliteConnection } from './connection.js';
import type { SqliteOptions } from './options.js';
import { insertSql, messageToRow, payloadToMessage } from './rows.js';
import { type DeadLetterRow, queueMessages, queueMessagesDlq } from './schema.js';

/** What `Queue.stats()` resolves to. */

const DEFAULT_MAX_ATTEMPTS = 10;
const DELIVERABLE = 'deliver_at <= @now AND (lease_until IS NULL OR lease_until <= @now)';

/** The SQL of the queue's hot paths, prepared once per connection. Exported for the query-plan test. */
export const QUEUE_SQL = {
  insert: insertSql(queueMessages, 'queue_messages', ['id']),
  anyDeliverable: `SELECT 1 FROM queue_messages INDEXED BY idx_queue_messages_deliver WHERE ${DELIVERABLE} LIMIT 1`,
  deliverable: `SELECT id, payload, attempts, max_attempts AS maxAttempts, last_error AS lastError, deliver_at AS deliverAt FROM queue_messages INDEXED BY idx_queue_messages_deliver WHERE ${DELIVERABLE} ORDER BY deliver_at, id LIMIT @limit`,
  lease: 'UPDATE queue_messages SET lease_token = ?, lease_until = ?, attempts = attempts + 1 WHERE id = ?',
  owned: 'SELECT attempts, max_attempts AS maxAttempts, last_error AS lastError FROM queue_messages WHERE id = ? AND lease_token = ?',
  ack: 'DELETE FROM queue_messages WHERE id = ? AND lease_token = ?',
  extend: 'UPDATE queue_messages SET lease_until = ? WHERE id = ? AND lease_token = ?',
  release: 'UPDATE queue_messages SET lease_token = NULL, lease_until = NULL, deliver_at = ?, last_error = ? WHERE id = ?',
  copyToDlq:
    'INSERT INTO queue_messages_dlq (original_id, message_type, payload, execution_id, task_id, attempts, max_attempts, error, created_at, moved_at) SELECT id, message_type, payload, execution_id, task_id, attempts, max_attempts, ?, created_at, ? FROM queue_messages WHERE id = ?',
  delete: 'DELETE FROM queue_messages WHERE id = ?',
  size: 'SELECT COUNT(*) AS n FROM queue_messages',
  // Two index reads instead of a scan and sort: the earliest idle row (walking deliver_at order past
  // the few leased rows) and the earliest end of a lease (only leased rows). INDEXED BY pins the plan.
  nextIdle: 'SELECT deliver_at AS at FROM queue_messages INDEXED BY idx_queue_messages_deliver WHERE lease_until IS NULL ORDER BY deliver_at, id LIMIT 1',
  nextLeased: 'SELECT MIN(MAX(deliver_at, lease_until)) AS at FROM queue_messages INDEXED BY idx_queue_messages_lease WHERE lease_until IS NOT NULL',
  pendingForTask: 'SELECT 1 FROM queue_messages WHERE task_id = ? LIMIT 1',
} as const;

/**
 * `Queue.stats()` in one statement: each row falls in exactly one of processing (leased, lease not
 * expired), delayed (not due) and ready; plus the dead letter count. Not a hot path (a monitor reads
 * it once per refresh), so it may scan the queue, which is why it is not in `QUEUE_SQL`.
 */
export const QUEUE_STATS_SQL = `SELECT
    COUNT(CASE WHEN lease_until > @now THEN 1 END) AS processing,
    COUNT(CASE WHEN (lease_until IS NULL OR lease_until <= @now) AND deliver_at > @now THEN 1 END) AS delayed,
    COUNT(CASE WHEN (lease_until IS NULL OR lease_until <= @now) AND deliver_at <= @now THEN 1 END) AS ready,
    (SELECT COUNT(*) FROM queue_messages_dlq) AS deadLetters
  FROM queue_messages`;

interface CandidateRow {
  id: number;
  payload: string;
  attempts: number;
  maxAttempts: number;
  lastError: string | null;
  deliverAt: number;
}

/**
 * The durable queue on SQLite. Opened on the same URL as a `SqliteWorkflowStore`, it shares its
 * connection, so the store's commits push into this queue atomically.
 */
export class SqliteQueue implements Queue {
  readonly clock: Clock;
  private readonly conn: SqliteConnection;
  private closed = false;
  /** The connection's signal count when this queue last polled or stopped waiting early. */
  private seenSignals = 0;

  constructor(url: string, options: SqliteOptions = {}) {
    this.clock = options.clock ?? systemClock;
    this.conn = acquireConnection(url, options);
    this.seenSignals = this.conn.signalCount();
    try {
      this.conn.ensureSchema(options.createTables === false ? 'queue' : 'store');
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
    if (this.closed) throw new StabilizeError('SqliteQueue is closed');
    return this.conn;
  }

  private run(sql: string) {
    return this.open().statement(sql);
  }

  async push(message: Message, options: PushOptions = {}): Promise<void> {
    const row = messageToRow(message, this.clock.now(), options.delayMs ?? 0, options.maxAttempts ?? DEFAULT_MAX_ATTEMPTS);
    const conn = this.open();
    conn.write(() => this.run(QUEUE_SQL.insert).run(row));
    conn.notify();
  }

  async poll(options: PollOptions): Promise<Delivery[]> {
    const conn = this.open();
    const now = this.clock.now();
    this.seenSignals = conn.signalCount();
    // Idle workers poll often: look first without taking the write lock.
    if (options.limit <= 0 || this.run(QUEUE_SQL.anyDeliverable).get({ now }) === undefined) return [];
    return conn.write(() => {
      const deliveries: Delivery[] = [];
      const taken = new Set<number>();
      for (;;) {
        const rows = this.run(QUEUE_SQL.deliverable).all({ now, limit: options.limit - deliveries.length + taken.size }) as CandidateRow[];
        let movedAny = false;
        for (const row of rows) {
          if (deliveries.length >= options.limit) break;
          if (taken.has(row.id)) continue; // a zero-length lease leaves it deliverable
          if (row.attempts >= row.maxAttempts) {
            this.moveRow(row.id, row.lastError ?? `Exceeded max_attempts (${row.maxAttempts})`, now);
            movedAny = true;
            continue;
          }
          let message: Message;
          try {
            message = payloadToMessage(row.payload, 'queue_messages', row.id);
          } catch (error) {
            // A row no worker could ever handle must not block the queue: park it for inspection.
            this.moveRow(row.id, `${(error as Error).name}: ${(error as Error).message}`, now);
            movedAny = true;
            continue;
          }
          const leaseToken = randomUUID();
          this.run(QUEUE_SQL.lease).run(leaseToken, now + options.leaseMs, row.id);
          taken.add(row.id);
          deliveries.push({ id: String(row.id), message, attempts: row.attempts + 1, maxAttempts: row.maxAttempts, leaseToken, deliverAt: row.deliverAt });
        }
        // Rows moved to the DLQ freed places in this batch: look again.
        if (!movedAny || deliveries.length >= options.limit) return deliveries;
      }
    });
  }

  private moveRow(id: number, error: string, now: number): void {
    this.run(QUEUE_SQL.copyToDlq).run(error, now, id);
    this.run(QUEUE_SQL.delete).run(id);
  }

  private rowId(delivery: Delivery): number | null {
    const id = Number(delivery.id);
    return Number.isSafeInteger(id) ? id : null;
  }

  async ack(delivery: Delivery): Promise<boolean> {
    const id = this.rowId(delivery);
    if (id === null) return false;
    return this.open().write(() => this.run(QUEUE_SQL.ack).run(id, delivery.leaseToken).changes > 0);
  }

  async reschedule(delivery: Delivery, delayMs: number, error?: string): Promise<boolean> {
    const id = this.rowId(delivery);
    if (id === null) return false;
    const conn = this.open();
    const now = this.clock.now();
    const outcome = conn.write(() => {
      const row = this.run(QUEUE_SQL.owned).get(id, delivery.leaseToken) as { attempts: number; maxAttempts: number; lastError: string | null } | undefined;
      if (!row) return 'lost';
      if (row.attempts >= row.maxAttempts) {
        this.moveRow(id, `Exceeded max_attempts (${row.maxAttempts})${error ? `: ${error}` : ''}`, now);
        return 'dead';
      }
      this.run(QUEUE_SQL.release).run(now + Math.max(0, Math.round(delayMs)), error ?? row.lastError, id);
      return 'released';
    });
    if (outcome === 'released') conn.notify();
    return outcome !== 'lost';
  }

  async extendLease(delivery: Delivery, leaseMs: number): Promise<boolean> {
    const id = this.rowId(delivery);
    if (id === null) return false;
    const until = this.clock.now() + leaseMs;
    return this.open().write(() => this.run(QUEUE_SQL.extend).run(until, id, delivery.leaseToken).changes > 0);
  }

  async size(): Promise<number> {
    return (this.run(QUEUE_SQL.size).get() as { n: number }).n;
  }

  async nextDeliveryTime(): Promise<number | null> {
    return this.open().read(() => {
      const idle = this.run(QUEUE_SQL.nextIdle).get() as { at: number } | undefined;
      const leased = this.run(QUEUE_SQL.nextLeased).get() as { at: number | null };
      const times = [idle?.at, leased.at].filter((t): t is number => typeof t === 'number');
      return times.length === 0 ? null : Math.min(...times);
    });
  }

  waitForMessages(maxWaitMs: number, signal?: AbortSignal): Promise<void> {
    if (this.closed) return Promise.resolve();
    // A push or foreign commit since our last poll (while nobody waited) must not be slept through.
    const signals = this.conn.signalCount();
    if (signals !== this.seenSignals) {
      this.seenSignals = signals;
      return Promise.resolve();
    }
    return this.conn.waitForChange(maxWaitMs, signal);
  }

  async hasPendingMessageForTask(taskId: string): Promise<boolean> {
    return this.run(QUEUE_SQL.pendingForTask).get(taskId) !== undefined;
  }

  /** Moves the delivered row to the DLQ, if this delivery still holds its lease. */
  async moveToDeadLetters(delivery: Delivery, error: string): Promise<void> {
    const id = this.rowId(delivery);
    if (id === null) return;
    const now = this.clock.now();
    this.open().write(() => {
      if (this.run(QUEUE_SQL.owned).get(id, delivery.leaseToken) !== undefined) this.moveRow(id, error, now);
    });
  }

  // ---- dead letters (not hot: drizzle) ---------------------------------------------------------

  async listDeadLetters(options: { limit?: number; messageType?: string } = {}): Promise<DeadLetter[]> {
    const t = queueMessagesDlq;
    const rows = this.open()
      .orm.select()
      .from(t)
      .where(options.messageType === undefined ? undefined : eq(t.messageType, options.messageType))
      .orderBy(asc(t.id))
      .limit(options.limit ?? 100)
      .all();
    return rows.map(toDeadLetter);
  }

  /** Puts the letter back on the queue as a new row (new id, attempts 0, due now). */
  async replayDeadLetter(id: string): Promise<boolean> {
    const dlqId = Number(id);
    if (!Number.isSafeInteger(dlqId)) return false;
    const conn = this.open();
    const now = this.clock.now();
    const t = queueMessagesDlq;
    const replayed = conn.write(() => {
      const row = conn.orm.select().from(t).where(eq(t.id, dlqId)).get();
      if (!row) return false;
      let message: Message;
      try {
        message = payloadToMessage(row.payload, 'queue_messages_dlq', row.id);
      } catch {
        return false; // an undecodable payload stays in the DLQ for inspection
      }
      conn.orm.delete(t).where(eq(t.id, dlqId)).run();
      this.run(QUEUE_SQL.insert).run(messageToRow(message, now, 0, row.maxAttempts));
      return true;
    });
    if (replayed) conn.notify();
    return replayed;
  }

  async deadLetterCount(): Promise<number> {
    return this.open().orm.select({ n: count() }).from(queueMessagesDlq).get()?.n ?? 0;
  }

  async stats(): Promise<QueueStats> {
    const row = this.run(QUEUE_STATS_SQL).get({ now: this.clock.now() }) as QueueStats;
    return { ready: row.ready, delayed: row.delayed, processing: row.processing, deadLetters: row.deadLetters };
  }

  async clearDeadLetters(): Promise<number> {
    const conn = this.open();
    return conn.write(() => conn.orm.delete(queueMessagesDlq).run().changes);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    releaseConnection(this.conn);
  }
}

function toDeadLetter(row: DeadLetterRow): DeadLetter {
  let message: Message | null = null;
  try {
    message = payloadToMessage(row.payload, 'queue_messages_dlq', row.id);
  } catch {
    message = null; // kept as raw `payload`; that is what a corrupt row is parked for
  }
  return {
    id: String(row.id),
    originalId: String(row.originalId),
    messageType: row.messageType,
    message,
    payload: row.payload,
    attempts: row.attempts,
    error: row.error,
    movedAt: row.movedAt,
  };
}
