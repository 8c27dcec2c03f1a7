import { ManualClock, type Message, Messages, Transaction, ValidationError, Workflow } from '@stabilize/core';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openSqliteBackend, type SqliteBackend, SqliteQueue } from '../src/index.js';
import { tempDir } from './support/temp.js';

const ids = (messages: Array<{ message: Message }>) => messages.map((d) => (d.message as { executionId: string }).executionId);

describe('SqliteQueue', () => {
  let dir: ReturnType<typeof tempDir>;
  let clock: ManualClock;
  let backend: SqliteBackend;
  let queue: SqliteQueue;
  beforeEach(() => {
    dir = tempDir();
    clock = new ManualClock();
    backend = openSqliteBackend(dir.file(), { clock });
    queue = backend.queue;
  });
  afterEach(async () => {
    await backend.close();
    dir.remove();
  });

  it('delivers due messages oldest first (deliver time, then id), in batches up to the limit', async () => {
    await queue.push(Messages.startWorkflow('later'), { delayMs: 100 });
    await queue.push(Messages.startWorkflow('a'));
    await queue.push(Messages.startWorkflow('b'));
    clock.advance(50);
    await queue.push(Messages.startWorkflow('c'));
    expect(ids(await queue.poll({ limit: 2, leaseMs: 1000 }))).toEqual(['a', 'b']);
    expect(ids(await queue.poll({ limit: 5, leaseMs: 1000 }))).toEqual(['c']);
    expect(await queue.poll({ limit: 5, leaseMs: 1000 })).toEqual([]);
    clock.advance(50);
    const [later] = await queue.poll({ limit: 5, leaseMs: 1000 });
    expect(later!.message).toEqual(Messages.startWorkflow('later'));
    expect(later!.deliverAt).toBe(clock.now());
    expect(await queue.poll({ limit: 0, leaseMs: 1000 })).toEqual([]);
  });

  it('keeps message payloads intact (nested objects, unicode, enums)', async () => {
    const messages: Message[] = [
      Messages.completeTask('w', 's', 't', 'SUCCEEDED', 'RUNNING'),
      Messages.continueParentStage('w', 's', 'STAGE_BEFORE', 2),
      { type: 'JumpToStage', executionId: 'w', stageId: 's', targetStageRefId: 'x', jumpContext: { a: [1, { b: 'ü' }] }, jumpOutputs: {} },
      Messages.signalStage('w', 's', 'go', { data: { deep: true } }, true),
    ];
    for (const m of messages) await queue.push(m);
    expect((await queue.poll({ limit: 10, leaseMs: 1000 })).map((d) => d.message)).toEqual(messages);
  });

  it('a lease hides the message until it ends; then it is delivered again with attempts + 1 and a new token', async () => {
    await queue.push(Messages.startWorkflow('w'));
    const [first] = await queue.poll({ limit: 1, leaseMs: 300 });
    expect(first!.attempts).toBe(1);
    expect(await queue.size()).toBe(1);
    clock.advance(299);
    expect(await queue.poll({ limit: 1, leaseMs: 300 })).toEqual([]);
    expect(await queue.nextDeliveryTime()).toBe(clock.now() + 1);
    clock.advance(1);
    const [second] = await queue.poll({ limit: 1, leaseMs: 300 });
    expect(second!.id).toBe(first!.id);
    expect(second!.attempts).toBe(2);
    expect(second!.leaseToken).not.toBe(first!.leaseToken);
    // The old holder can no longer ack, extend, reschedule or dead-letter it.
    expect(await queue.ack(first!)).toBe(false);
    expect(await queue.extendLease(first!, 1000)).toBe(false);
    expect(await queue.reschedule(first!, 0)).toBe(false);
    await queue.moveToDeadLetters(first!, 'nope');
    expect(await queue.deadLetterCount()).toBe(0);
    expect(await queue.ack(second!)).toBe(true);
    expect(await queue.ack(second!)).toBe(false);
    expect(await queue.size()).toBe(0);
  });

  it('heartbeats keep the lease; after ack the heartbeat fails', async () => {
    await queue.push(Messages.startWorkflow('w'));
    const [d] = await queue.poll({ limit: 1, leaseMs: 300 });
    for (let i = 0; i < 5; i++) {
      clock.advance(200);
      expect(await queue.extendLease(d!, 300)).toBe(true);
      expect(await queue.poll({ limit: 1, leaseMs: 300 })).toEqual([]);
    }
    expect(await queue.ack(d!)).toBe(true);
    expect(await queue.extendLease(d!, 300)).toBe(false);
  });

  it('reschedule releases the lease, delays, keeps attempts and the last error', async () => {
    await queue.push(Messages.startWorkflow('w'));
    const [d] = await queue.poll({ limit: 1, leaseMs: 60_000 });
    expect(await queue.reschedule(d!, 3_600_000, 'boom')).toBe(true);
    expect(await queue.size()).toBe(1);
    expect(await queue.poll({ limit: 1, leaseMs: 1000 })).toEqual([]);
    expect(await queue.nextDeliveryTime()).toBe(clock.now() + 3_600_000);
    const row = queue.database.prepare('SELECT attempts, lease_until AS leaseUntil, lease_token AS leaseToken, last_error AS lastError FROM queue_messages').get();
    expect(row).toEqual({ attempts: 1, leaseUntil: null, leaseToken: null, lastError: 'boom' });
    clock.advance(3_600_000);
    const [again] = await queue.poll({ limit: 1, leaseMs: 1000 });
    expect(again!.attempts).toBe(2);
  });

  it('nextDeliveryTime is the earliest of due times and lease ends; null when empty', async () => {
    expect(await queue.nextDeliveryTime()).toBeNull();
    await queue.push(Messages.startWorkflow('a'));
    await queue.push(Messages.startWorkflow('b'), { delayMs: 5000 });
    expect(await queue.nextDeliveryTime()).toBe(clock.now());
    await queue.poll({ limit: 1, leaseMs: 2000 });
    expect(await queue.nextDeliveryTime()).toBe(clock.now() + 2000);
    clock.advance(10_000);
    expect(await queue.nextDeliveryTime()).toBe(clock.now() - 8000);
  });

  it('moves a row that used up its attempts to the DLQ on reschedule, keeping the error', async () => {
    await queue.push(Messages.startTask('w', 's', 'task-1'), { maxAttempts: 2 });
    const [d1] = await queue.poll({ limit: 1, leaseMs: 1000 });
    await queue.reschedule(d1!, 0, 'first failure');
    const [d2] = await queue.poll({ limit: 1, leaseMs: 1000 });
    expect([d2!.attempts, d2!.maxAttempts]).toEqual([2, 2]);
    expect(await queue.reschedule(d2!, 0, 'second failure')).toBe(true);
    expect(await queue.size()).toBe(0);
    expect(await queue.hasPendingMessageForTask('task-1')).toBe(false);
    const [letter] = await queue.listDeadLetters();
    expect(letter).toMatchObject({ originalId: d1!.id, messageType: 'StartTask', attempts: 2, error: 'Exceeded max_attempts (2): second failure', movedAt: clock.now() });
    expect(letter!.message).toEqual(Messages.startTask('w', 's', 'task-1'));
    expect(JSON.parse(letter!.payload)).toEqual(Messages.startTask('w', 's', 'task-1'));
  });

  it('moves a row whose last lease expired to the DLQ at poll time instead of delivering it', async () => {
    await queue.push(Messages.startWorkflow('poison'), { maxAttempts: 1 });
    await queue.push(Messages.startWorkflow('ok'));
    const [d] = await queue.poll({ limit: 1, leaseMs: 100 });
    expect(ids([d!])).toEqual(['poison']);
    clock.advance(100);
    // The poison row is dead-lettered and its place in the batch goes to the next row.
    expect(ids(await queue.poll({ limit: 1, leaseMs: 100 }))).toEqual(['ok']);
    const [letter] = await queue.listDeadLetters();
    expect(letter).toMatchObject({ messageType: 'StartWorkflow', attempts: 1, error: 'Exceeded max_attempts (1)' });
  });

  it('parks an undecodable row in the DLQ instead of blocking the queue', async () => {
    await queue.push(Messages.startWorkflow('bad'));
    await queue.push(Messages.startWorkflow('good'));
    queue.database.prepare("UPDATE queue_messages SET payload = '{oops' WHERE id = (SELECT MIN(id) FROM queue_messages)").run();
    expect(ids(await queue.poll({ limit: 5, leaseMs: 100 }))).toEqual(['good']);
    const [letter] = await queue.listDeadLetters();
    expect(letter!.message).toBeNull();
    expect(letter!.payload).toBe('{oops');
    expect(letter!.error).toMatch(/^CorruptRowError: Corrupt row: queue_messages row \d+ \(column payload\): malformed JSON/);
    expect(await queue.replayDeadLetter(letter!.id)).toBe(false);
  });

  it('replays a dead letter as a new row with a new id and fresh attempts', async () => {
    await queue.push(Messages.startWorkflow('w'), { maxAttempts: 1 });
    const [d] = await queue.poll({ limit: 1, leaseMs: 100 });
    await queue.reschedule(d!, 0, 'fail');
    const [letter] = await queue.listDeadLetters();
    clock.advance(500);
    expect(await queue.replayDeadLetter(letter!.id)).toBe(true);
    expect(await queue.replayDeadLetter(letter!.id)).toBe(false);
    expect(await queue.replayDeadLetter('999999')).toBe(false);
    expect(await queue.replayDeadLetter('x')).toBe(false);
    expect(await queue.deadLetterCount()).toBe(0);
    const [replayed] = await queue.poll({ limit: 1, leaseMs: 100 });
    expect(replayed!.id).not.toBe(d!.id);
    expect([replayed!.attempts, replayed!.maxAttempts, replayed!.deliverAt]).toEqual([1, 1, clock.now()]);
    expect(replayed!.message).toEqual(Messages.startWorkflow('w'));
  });

  it('lists dead letters by type and limit, counts and clears them', async () => {
    for (const m of [Messages.startWorkflow('a'), Messages.completeWorkflow('b'), Messages.startWorkflow('c')]) await queue.push(m, { maxAttempts: 1 });
    for (const d of await queue.poll({ limit: 10, leaseMs: 100 })) await queue.moveToDeadLetters(d, `error "quoted"\\ \n line`);
    expect(await queue.size()).toBe(0);
    expect(await queue.deadLetterCount()).toBe(3);
    expect((await queue.listDeadLetters({ messageType: 'StartWorkflow' })).map((l) => (l.message as { executionId: string }).executionId)).toEqual(['a', 'c']);
    expect(await queue.listDeadLetters({ limit: 1 })).toHaveLength(1);
    expect((await queue.listDeadLetters())[0]!.error).toBe(`error "quoted"\\ \n line`);
    expect(await queue.clearDeadLetters()).toBe(3);
    expect(await queue.deadLetterCount()).toBe(0);
  });

  it('hasPendingMessageForTask sees queued and leased rows of that task only', async () => {
    await queue.push(Messages.runTask('w', 's', 't1', 'shell'));
    expect(await queue.hasPendingMessageForTask('t1')).toBe(true);
    expect(await queue.hasPendingMessageForTask('t2')).toBe(false);
    const [d] = await queue.poll({ limit: 1, leaseMs: 1000 });
    expect(await queue.hasPendingMessageForTask('t1')).toBe(true);
    await queue.ack(d!);
    expect(await queue.hasPendingMessageForTask('t1')).toBe(false);
  });

  it('rejects a message that is not an object with a type', async () => {
    await expect(queue.push({ executionId: 'x' } as unknown as Message)).rejects.toBeInstanceOf(ValidationError);
    expect(await queue.size()).toBe(0);
  });

  it('a zero-length lease never hands one row out twice in one poll', async () => {
    await queue.push(Messages.startWorkflow('a'));
    const batch = await queue.poll({ limit: 5, leaseMs: 0 });
    expect(batch).toHaveLength(1);
  });

  describe('waitForMessages', () => {
    const elapsed = async (wait: Promise<void>) => {
      const start = performance.now();
      await wait;
      return performance.now() - start;
    };

    it('wakes on push, on a commit that pushes, and on reschedule', async () => {
      let waiting = queue.waitForMessages(5000);
      setTimeout(() => void queue.push(Messages.startWorkflow('w')), 10);
      expect(await elapsed(waiting)).toBeLessThan(1000);

      waiting = queue.waitForMessages(5000);
      setTimeout(() => void backend.store.commit(new Transaction().push(Messages.startWorkflow('x'))), 10);
      expect(await elapsed(waiting)).toBeLessThan(1000);

      const [d] = await queue.poll({ limit: 1, leaseMs: 1000 });
      waiting = queue.waitForMessages(5000);
      setTimeout(() => void queue.reschedule(d!, 0), 10);
      expect(await elapsed(waiting)).toBeLessThan(1000);
    });

    it('a push between an empty poll and the wait is not slept through', async () => {
      expect(await queue.poll({ limit: 1, leaseMs: 1000 })).toEqual([]);
      await backend.store.commit(new Transaction().push(Messages.startWorkflow('w')));
      expect(await elapsed(queue.waitForMessages(5000))).toBeLessThan(100);
      // Seen once: the next wait sleeps until the next push or its bound.
      expect(await elapsed(queue.waitForMessages(100))).toBeGreaterThanOrEqual(90);
    });

    it('a second queue on the same database is woken too (one notifier per connection)', async () => {
      const other = new SqliteQueue(dir.file(), { clock });
      const waiting = other.waitForMessages(5000);
      setTimeout(() => void queue.push(Messages.startWorkflow('w')), 10);
      expect(await elapsed(waiting)).toBeLessThan(1000);
      await other.close();
    });

    it('returns after maxWaitMs without a push, and at once on abort', async () => {
      expect(await elapsed(queue.waitForMessages(50))).toBeGreaterThanOrEqual(45);
      const controller = new AbortController();
      const waiting = queue.waitForMessages(5000, controller.signal);
      setTimeout(() => controller.abort(), 10);
      expect(await elapsed(waiting)).toBeLessThan(1000);
      expect(await elapsed(queue.waitForMessages(5000, controller.signal))).toBeLessThan(50);
    });

    it('notices commits made through another connection: while waiting, and ones made before the wait', async () => {
      const foreign = new Database(dir.file());
      const insert = () => foreign.prepare("INSERT INTO queue_messages (message_type, payload, deliver_at, created_at) VALUES ('StartWorkflow', '{\"type\":\"StartWorkflow\",\"executionId\":\"f\"}', 0, 0)").run();
      try {
        const waiting = queue.waitForMessages(5000);
        setTimeout(insert, 50);
        expect(await elapsed(waiting)).toBeLessThan(2500);
        // A commit while nobody waits (e.g. between an empty poll and the wait) is not lost.
        insert();
        expect(await elapsed(queue.waitForMessages(5000))).toBeLessThan(100);
        expect(await elapsed(queue.waitForMessages(100))).toBeGreaterThanOrEqual(90);
      } finally {
        foreign.close();
      }
    });

    it('our own commits that push nothing do not wake waiters (not even through the WAL watch)', async () => {
      const w = new Workflow({ application: 'a' });
      await backend.store.store(w);
      const waiting = queue.waitForMessages(300);
      setTimeout(() => void backend.store.commit(new Transaction().updateWorkflow(w, { status: 'RUNNING' })), 10);
      setTimeout(() => void backend.store.commit(new Transaction().updateWorkflow(w, { status: 'SUCCEEDED' })), 100);
      expect(await elapsed(waiting)).toBeGreaterThanOrEqual(290);
    });
  });
});
