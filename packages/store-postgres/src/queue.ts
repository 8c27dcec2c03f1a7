import { CorruptRowError, type DeadLetter, type Delivery, isMessageType, MESSAGE_TYPES, type Message, parseJson, type PollOptions, type PushOptions, type Queue, type QueueStats } from '@stabilize/core';
import { PgBackend, type PostgresOptions, statementName } from './backend.js';

/** What `Queue.stats()` resolves to. */

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const ROW_ID = /^[1-9][0-9]{0,17}$/;

/** A delivery whose id and token can name a row at all (anything else holds no lease). */
function plausible(delivery: Pick<Delivery, 'id' | 'leaseToken'>): boolean {
  return ROW_ID.test(delivery.id) && UUID.test(delivery.leaseToken);
}

interface ClaimedRow {
  kind: 'c' | 'd';
  id: number | null;
  payload: string | null;
  attempts: number | null;
  max_attempts: number | null;
  lease_token: string | null;
  deliver_at: Date | null;
}

interface DeadLetterRow {
  id: number;
  original_id: number;
  message_type: string;
  payload: string;
  attempts: number;
  error: string;
  moved_at: Date;
}

/** A parsed payload if it is a message (an object with a known `type`), else null. */
function asMessage(payload: string, where: string): Message | null {
  try {
    const value = parseJson<unknown>(payload, where, null);
    if (value === null || typeof value !== 'object' || Array.isArray(value)) return null;
    return isMessageType((value as { type?: unknown }).type) ? (value as Message) : null;
  } catch {
    return null;
  }
}

/**
 * The message of a claimed queue row, or the CorruptRowError that sends it to the dead letters: a
 * payload that is not an object with a string `type`. An unknown type is delivered; the processor
 * dead-letters it and marks its workflow.
 */
function decodeClaimed(payload: string | null, id: string): Message | CorruptRowError {
  const at = { table: 'queue_messages', rowId: id, column: 'payload' };
  let value: unknown;
  try {
    value = parseJson<unknown>(payload ?? '', `queue_messages row ${id} (column payload)`, null);
  } catch (error) {
    return new CorruptRowError(at, 'Deserialization failed: malformed JSON', { cause: error });
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value) || typeof (value as { type?: unknown }).type !== 'string') {
    return new CorruptRowError({ ...at, workflowId: executionIdOf(value) }, 'Deserialization failed: expected a message object with a string type');
  }
  return value as Message;
}

function executionIdOf(value: unknown): string | null {
  const id = value !== null && typeof value === 'object' ? (value as { executionId?: unknown }).executionId : undefined;
  return typeof id === 'string' ? id : null;
}

function taskIdOf(message: Message): string | null {
  const taskId = (message as { taskId?: unknown }).taskId;
  return typeof taskId === 'string' ? taskId : null;
}

/**
 * The PostgreSQL `Queue`: a table in the same database as the workflow state, so a store commit
 * writes state and follow-up messages atomically. Claims use one `FOR UPDATE SKIP LOCKED` statement
 * and a lease token that ack / reschedule / extendLease check. Idle workers wait on LISTEN/NOTIFY.
 */
export class PostgresQueue implements Queue {
  /** @internal */
  readonly backend: PgBackend;
  private sqlCache: ReturnType<PostgresQueue['buildSql']> | null = null;
  /** performance.now() when the latest poll started (see `waitForMessages`). */
  private lastPollAt = Number.NEGATIVE_INFINITY;
  /** The wake-up `waitForMessages` last returned early for (each wake-up cuts one wait short, once). */
  private lastEarlyWake = Number.NEGATIVE_INFINITY;
  readonly defaultMaxAttempts: number;

  constructor(url: string, options: PostgresOptions & { maxAttempts?: number } = {}) {
    this.backend = new PgBackend(url, options, 'PostgresQueue');
    this.defaultMaxAttempts = options.maxAttempts ?? 10;
  }

  get schema(): string {
    return this.backend.schema;
  }

  private buildSql() {
    const { t } = this.backend;
    // With an injected clock, $1 holds its time; otherwise the database clock.
    const now = this.backend.clock ? '$1::timestamptz' : 'now()';
    const n = (i: number) => `$${this.backend.clock ? i + 1 : i}`;
    const toDlq = (source: string, error: string) =>
      `INSERT INTO ${t.dlq} (original_id, message_type, payload, task_id, attempts, error, last_error_at, created_at, moved_at)
       SELECT id, message_type, payload, task_id, attempts, ${error}, ${now}, created_at, ${now} FROM ${source} ORDER BY id RETURNING 1`;
    return {
      push: `WITH ins AS (INSERT INTO ${t.queue} (message_type, payload, task_id, deliver_at, created_at, max_attempts)
               VALUES (${n(1)}, ${n(2)}::jsonb, ${n(3)}, ${now} + ${n(4)}::double precision * interval '1 millisecond', ${now}, ${n(5)}::integer) RETURNING 1)
             SELECT pg_notify(${n(6)}, '')`,
      poll: `WITH cand AS (
               SELECT id, attempts, max_attempts FROM ${t.queue}
               WHERE deliver_at <= ${now} AND (lease_until IS NULL OR lease_until <= ${now})
               ORDER BY deliver_at, id LIMIT ${n(1)}::integer FOR UPDATE SKIP LOCKED),
             dead AS (DELETE FROM ${t.queue} q USING cand c WHERE q.id = c.id AND c.attempts >= c.max_attempts
               RETURNING q.id, q.message_type, q.payload, q.task_id, q.attempts, q.max_attempts, q.last_error, q.created_at),
             dlq AS (${toDlq('dead', `COALESCE(last_error, 'Exceeded max_attempts (' || max_attempts || ')')`)}),
             claimed AS (UPDATE ${t.queue} q SET attempts = q.attempts + 1, lease_token = gen_random_uuid(), coalesce_key = NULL,
                 lease_until = ${now} + ${n(2)}::double precision * interval '1 millisecond'
               FROM cand c WHERE q.id = c.id AND c.attempts < c.max_attempts
               RETURNING q.id, q.payload, q.attempts, q.max_attempts, q.lease_token, q.deliver_at)
             SELECT 'c' AS kind, id, payload, attempts, max_attempts, lease_token::text AS lease_token, deliver_at FROM claimed
             UNION ALL SELECT 'd', NULL, NULL, NULL, NULL, NULL, NULL FROM dlq`,
      ack: `DELETE FROM ${t.queue} WHERE id = $1::bigint AND lease_token = $2::uuid`,
      reschedule: `WITH dead AS (DELETE FROM ${t.queue} WHERE id = ${n(1)}::bigint AND lease_token = ${n(2)}::uuid AND attempts >= max_attempts
                 RETURNING id, message_type, payload, task_id, attempts, max_attempts, created_at),
               dlq AS (${toDlq('dead', `'Exceeded max_attempts (' || max_attempts || ')' || COALESCE(': ' || NULLIF(${n(3)}::text, ''), '')`)}),
               upd AS (UPDATE ${t.queue} SET lease_token = NULL, lease_until = NULL, last_error = COALESCE(${n(3)}::text, last_error),
                   deliver_at = ${now} + ${n(4)}::double precision * interval '1 millisecond'
                 WHERE id = ${n(1)}::bigint AND lease_token = ${n(2)}::uuid AND attempts < max_attempts RETURNING 1)
             SELECT (SELECT count(*) FROM dlq) + (SELECT count(*) FROM upd) AS n, pg_notify(${n(5)}, '')`,
      extend: `UPDATE ${t.queue} SET lease_until = ${now} + ${n(3)}::double precision * interval '1 millisecond' WHERE id = ${n(1)}::bigint AND lease_token = ${n(2)}::uuid`,
      size: `SELECT count(*)::int AS n FROM ${t.queue}`,
      // The earliest unleased row, and among the leased rows before it the earliest lease expiry:
      // both served by the (deliver_at, id) index, whatever the queue length.
      nextDelivery: `WITH a AS (SELECT deliver_at FROM ${t.queue} WHERE lease_until IS NULL ORDER BY deliver_at, id LIMIT 1)
             SELECT LEAST((SELECT deliver_at FROM a),
               (SELECT min(GREATEST(deliver_at, lease_until)) FROM ${t.queue}
                WHERE lease_until IS NOT NULL AND ((SELECT deliver_at FROM a) IS NULL OR deliver_at <= (SELECT deliver_at FROM a)))) AS at`,
      deliverable: `SELECT EXISTS (SELECT 1 FROM ${t.queue} WHERE deliver_at <= ${now} AND (lease_until IS NULL OR lease_until <= ${now})) AS found`,
      pendingForTask: `SELECT EXISTS (SELECT 1 FROM ${t.queue} WHERE task_id = $1) AS found`,
      moveToDlq: `WITH dead AS (DELETE FROM ${t.queue} WHERE id = ${n(1)}::bigint AND lease_token = ${n(2)}::uuid
                 RETURNING id, message_type, payload, task_id, attempts, created_at),
               dlq AS (${toDlq('dead', `${n(3)}::text`)})
             SELECT count(*)::int AS n FROM dlq`,
      listDlq: `SELECT id, original_id, message_type, payload, attempts, error, moved_at FROM ${t.dlq}
             WHERE ($1::text IS NULL OR message_type = $1) ORDER BY id LIMIT $2::integer`,
      replay: `WITH d AS (DELETE FROM ${t.dlq} WHERE id = ${n(1)}::bigint AND jsonb_typeof(payload) = 'object' AND payload->>'type' = ANY(${n(2)}::text[])
                 RETURNING message_type, payload, task_id),
               ins AS (INSERT INTO ${t.queue} (message_type, payload, task_id, deliver_at, created_at, max_attempts)
                 SELECT message_type, payload, task_id, ${now}, ${now}, ${n(3)}::integer FROM d RETURNING 1)
             SELECT (SELECT count(*)::int FROM ins) AS n, pg_notify(${n(4)}, '')`,
      dlqCount: `SELECT count(*)::int AS n FROM ${t.dlq}`,
      // Each row in exactly one of processing (leased, lease not expired), delayed (not due), ready.
      stats: `SELECT count(*) FILTER (WHERE lease_until > ${now})::int AS processing,
               count(*) FILTER (WHERE (lease_until IS NULL OR lease_until <= ${now}) AND deliver_at > ${now})::int AS delayed,
               count(*) FILTER (WHERE (lease_until IS NULL OR lease_until <= ${now}) AND deliver_at <= ${now})::int AS ready,
               (SELECT count(*)::int FROM ${t.dlq}) AS dead_letters
             FROM ${t.queue}`,
      clearDlq: `WITH d AS (DELETE FROM ${t.dlq} RETURNING 1) SELECT count(*)::int AS n FROM d`,
    };
  }

  private async sql() {
    await this.backend.ready();
    this.sqlCache ??= this.buildSql();
    return this.sqlCache;
  }

  /** Runs a statement; `timed` statements get the injected clock's time as their first parameter. */
  private async run<R extends Record<string, unknown>>(text: string, values: unknown[], operation: string, timed = false) {
    const params = timed && this.backend.clock ? [this.backend.nowParam(), ...values] : values;
    return this.backend.raw<R>(text, params, operation, statementName(text));
  }

  async push(message: Message, options: PushOptions = {}): Promise<void> {
    const sql = await this.sql();
    await this.run(
      sql.push,
      [message.type, JSON.stringify(message), taskIdOf(message), options.delayMs ?? 0, options.maxAttempts ?? this.defaultMaxAttempts, this.backend.channel],
      'push',
      true,
    );
    this.backend.wakeLocal();
  }

  async poll(options: PollOptions): Promise<Delivery[]> {
    const sql = await this.sql();
    this.lastPollAt = performance.now();
    const result: Delivery[] = [];
    // Rows out of attempts move to the dead letters and do not count against the limit.
    for (let round = 0; round < 10 && result.length < options.limit; round++) {
      const rows = (await this.run<ClaimedRow & Record<string, unknown>>(sql.poll, [options.limit - result.length, options.leaseMs], 'poll', true)).rows;
      let dead = 0;
      for (const row of rows) {
        if (row.kind === 'd') {
          dead++;
          continue;
        }
        const id = String(row.id);
        const decoded = decodeClaimed(row.payload, id);
        const message = decoded instanceof CorruptRowError ? null : decoded;
        const delivery: Delivery = {
          id,
          message: message as Message,
          attempts: row.attempts ?? 0,
          maxAttempts: row.max_attempts ?? 0,
          leaseToken: row.lease_token ?? '',
          deliverAt: (row.deliver_at as Date).getTime(),
        };
        if (message === null) {
          // Not a message at all: nothing can handle it, so it goes straight to the dead letters.
          await this.moveToDeadLetters(delivery, `CorruptRowError: ${(decoded as CorruptRowError).message}`);
          dead++;
          continue;
        }
        result.push(delivery);
      }
      if (dead === 0) break;
    }
    return result;
  }

  async ack(delivery: Delivery): Promise<boolean> {
    if (!plausible(delivery)) return false;
    const sql = await this.sql();
    return ((await this.run(sql.ack, [delivery.id, delivery.leaseToken], 'ack')).rowCount ?? 0) > 0;
  }

  async reschedule(delivery: Delivery, delayMs: number, error?: string): Promise<boolean> {
    if (!plausible(delivery)) return false;
    const sql = await this.sql();
    const [row] = (await this.run<{ n: number }>(sql.reschedule, [delivery.id, delivery.leaseToken, error ?? null, delayMs, this.backend.channel], 'reschedule', true)).rows;
    const done = Number(row?.n ?? 0) > 0;
    if (done) this.backend.wakeLocal();
    return done;
  }

  async extendLease(delivery: Delivery, leaseMs: number): Promise<boolean> {
    if (!plausible(delivery)) return false;
    const sql = await this.sql();
    return ((await this.run(sql.extend, [delivery.id, delivery.leaseToken, leaseMs], 'extendLease', true)).rowCount ?? 0) > 0;
  }

  async size(): Promise<number> {
    const sql = await this.sql();
    return Number((await this.run<{ n: number }>(sql.size, [], 'size')).rows[0]?.n ?? 0);
  }

  async nextDeliveryTime(): Promise<number | null> {
    const sql = await this.sql();
    const at = (await this.run<{ at: Date | null }>(sql.nextDelivery, [], 'nextDeliveryTime')).rows[0]?.at ?? null;
    return at === null ? null : at.getTime();
  }

  async waitForMessages(maxWaitMs: number, signal?: AbortSignal): Promise<void> {
    // Ready first, so the channel name is known (a failure here just means: look again later).
    const ok = await this.backend.ready().then(
      () => true,
      () => false,
    );
    if (!ok) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.max(0, Math.min(maxWaitMs, 1000)));
        signal?.addEventListener(
          'abort',
          () => {
            clearTimeout(timer);
            resolve();
          },
          { once: true },
        );
      });
      return;
    }
    const listener = this.backend.handle.listener();
    const channel = this.backend.channel;
    if (!listener.isListening(channel)) {
      // Until LISTEN is in effect, pushes are not announced to us: once it is, look at the queue.
      const started = performance.now();
      if (!(await listener.whenListening(channel, maxWaitMs, signal))) return;
      if (signal?.aborted || (await this.hasDeliverable().catch(() => true))) return;
      maxWaitMs -= performance.now() - started;
    }
    // A wake-up that came after our latest poll may announce a message that poll did not see (it
    // arrived between the poll and this wait): return at once, but only once per wake-up.
    const lastWake = listener.lastWake(channel);
    if (lastWake > this.lastPollAt && lastWake > this.lastEarlyWake) {
      this.lastEarlyWake = lastWake;
      listener.listen(channel);
      await new Promise<void>((resolve) => setImmediate(resolve));
      return;
    }
    await listener.wait(channel, maxWaitMs, signal);
  }

  /** Whether some message could be claimed right now. */
  private async hasDeliverable(): Promise<boolean> {
    const sql = await this.sql();
    return Boolean((await this.run<{ found: boolean }>(sql.deliverable, [], 'waitForMessages', true)).rows[0]?.found);
  }

  async hasPendingMessageForTask(taskId: string): Promise<boolean> {
    const sql = await this.sql();
    return Boolean((await this.run<{ found: boolean }>(sql.pendingForTask, [taskId], 'hasPendingMessageForTask')).rows[0]?.found);
  }

  /** Moves the delivery's row to the dead letters, if this delivery still holds its lease. */
  async moveToDeadLetters(delivery: Delivery, error: string): Promise<void> {
    if (!plausible(delivery)) return;
    const sql = await this.sql();
    await this.run(sql.moveToDlq, [delivery.id, delivery.leaseToken, error], 'moveToDeadLetters', true);
  }

  async listDeadLetters(options: { limit?: number; messageType?: string } = {}): Promise<DeadLetter[]> {
    const sql = await this.sql();
    const rows = (await this.run<DeadLetterRow & Record<string, unknown>>(sql.listDlq, [options.messageType ?? null, options.limit ?? 100], 'listDeadLetters')).rows;
    return rows.map((row) => {
      const message = asMessage(row.payload, `dead letter ${row.id}`);
      return {
        id: String(row.id),
        originalId: String(row.original_id),
        messageType: row.message_type,
        message,
        payload: message ? JSON.stringify(message) : row.payload,
        attempts: row.attempts,
        error: row.error,
        movedAt: row.moved_at.getTime(),
      };
    });
  }

  async replayDeadLetter(id: string): Promise<boolean> {
    if (!ROW_ID.test(id)) return false;
    const sql = await this.sql();
    const [row] = (await this.run<{ n: number }>(sql.replay, [id, MESSAGE_TYPES, this.defaultMaxAttempts, this.backend.channel], 'replayDeadLetter', true)).rows;
    const done = Number(row?.n ?? 0) > 0;
    if (done) this.backend.wakeLocal();
    return done;
  }

  async deadLetterCount(): Promise<number> {
    const sql = await this.sql();
    return Number((await this.run<{ n: number }>(sql.dlqCount, [], 'deadLetterCount')).rows[0]?.n ?? 0);
  }

  async stats(): Promise<QueueStats> {
    const sql = await this.sql();
    const [row] = (await this.run<{ ready: number; delayed: number; processing: number; dead_letters: number }>(sql.stats, [], 'stats', true)).rows;
    return { ready: Number(row?.ready ?? 0), delayed: Number(row?.delayed ?? 0), processing: Number(row?.processing ?? 0), deadLetters: Number(row?.dead_letters ?? 0) };
  }

  async clearDeadLetters(): Promise<number> {
    const sql = await this.sql();
    return Number((await this.run<{ n: number }>(sql.clearDlq, [], 'clearDeadLetters')).rows[0]?.n ?? 0);
  }

  async close(): Promise<void> {
    await this.backend.close();
  }
}
