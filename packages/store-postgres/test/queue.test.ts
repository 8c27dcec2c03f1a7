import { type Delivery, ManualClock, Messages, StageExecution, Transaction, Workflow } from '@stabilize/core';
import { afterAll, beforeAll, beforeEach, expect, it } from 'vitest';
import { PostgresQueue, PostgresWorkflowStore } from '../src/index.js';
import { admin, describePg, dropSchema, migratedSchema } from './pg.js';

describePg('PostgresQueue', () => {
  let schema = '';
  let url = '';
  const clock = new ManualClock();
  let queue: PostgresQueue;

  beforeAll(async () => {
    ({ schema, url } = await migratedSchema('queue'));
    queue = new PostgresQueue(url, { clock });
  });
  afterAll(async () => {
    await queue?.close();
    await dropSchema(schema);
  });
  beforeEach(async () => {
    await admin((c) => c.query(`TRUNCATE "${schema}".queue_messages, "${schema}".queue_messages_dlq`));
  });

  it('delivers due messages oldest first (deliver_at, then id), never before their time', async () => {
    await queue.push(Messages.startWorkflow('later'), { delayMs: 500 });
    await queue.push(Messages.startWorkflow('first'));
    await queue.push(Messages.startWorkflow('second'));
    expect(await queue.nextDeliveryTime()).toBe(clock.now());
    const batch = await queue.poll({ limit: 10, leaseMs: 10_000 });
    expect(batch.map((d) => (d.message as { executionId: string }).executionId)).toEqual(['first', 'second']);
    expect(batch.map((d) => [d.attempts, d.maxAttempts, d.deliverAt])).toEqual([
      [1, 10, clock.now()],
      [1, 10, clock.now()],
    ]);
    expect(Number(batch[1]!.id)).toBeGreaterThan(Number(batch[0]!.id));
    // The leased rows come back when their lease ends; the delayed one at its time.
    expect(await queue.nextDeliveryTime()).toBe(clock.now() + 500);
    clock.advance(499);
    expect(await queue.poll({ limit: 10, leaseMs: 10_000 })).toEqual([]);
    clock.advance(1);
    const [later] = await queue.poll({ limit: 10, leaseMs: 10_000 });
    expect((later!.message as { executionId: string }).executionId).toBe('later');
    for (const d of [...batch, later!]) expect(await queue.ack(d)).toBe(true);
    expect(await queue.size()).toBe(0);
    expect(await queue.nextDeliveryTime()).toBeNull();
  });

  it('hands each message to exactly one of many concurrent pollers (SKIP LOCKED)', async () => {
    const total = 300;
    await Promise.all(Array.from({ length: total }, (_, i) => queue.push(Messages.startWorkflow(`w${i}`))));
    // Separate pools, as separate worker processes would have.
    const pollers = Array.from({ length: 6 }, (_, i) => new PostgresQueue(`${url}&application_name=poller${i}`, { clock, poolSize: 3 }));
    const seen: string[] = [];
    try {
      await Promise.all(
        pollers.map(async (p) => {
          for (;;) {
            const got = await p.poll({ limit: 7, leaseMs: 60_000 });
            if (got.length === 0) return;
            for (const d of got) {
              seen.push(d.id);
              expect(await p.ack(d)).toBe(true);
            }
          }
        }),
      );
    } finally {
      for (const p of pollers) await p.close();
    }
    expect(seen).toHaveLength(total);
    expect(new Set(seen).size).toBe(total);
    expect(await queue.size()).toBe(0);
  });

  it('lets only the current lease holder ack, extend, reschedule or dead-letter a message', async () => {
    await queue.push(Messages.startWorkflow('w'));
    const [stale] = await queue.poll({ limit: 1, leaseMs: 1_000 });
    clock.advance(1_000);
    const [current] = await queue.poll({ limit: 1, leaseMs: 1_000 });
    expect(current!.id).toBe(stale!.id);
    expect(current!.attempts).toBe(2);
    expect(await queue.ack(stale!)).toBe(false);
    expect(await queue.extendLease(stale!, 60_000)).toBe(false);
    expect(await queue.reschedule(stale!, 0, 'late')).toBe(false);
    await queue.moveToDeadLetters(stale!, 'late');
    expect(await queue.deadLetterCount()).toBe(0);
    expect(await queue.size()).toBe(1);
    const forged: Delivery = { ...current!, leaseToken: '00000000-0000-4000-8000-000000000000' };
    expect(await queue.ack(forged)).toBe(false);
    expect(await queue.ack({ ...current!, id: 'not-a-number' })).toBe(false);
    // The holder's heartbeat keeps the message away from others past the original lease.
    expect(await queue.extendLease(current!, 5_000)).toBe(true);
    clock.advance(2_000);
    expect(await queue.poll({ limit: 1, leaseMs: 1_000 })).toEqual([]);
    expect(await queue.ack(current!)).toBe(true);
    expect(await queue.size()).toBe(0);
  });

  it('reschedules with a delay, keeping attempts and the last error', async () => {
    await queue.push(Messages.startWorkflow('w'), { maxAttempts: 5 });
    const [d] = await queue.poll({ limit: 1, leaseMs: 60_000 });
    expect(await queue.reschedule(d!, 250, 'first failure')).toBe(true);
    expect(await queue.nextDeliveryTime()).toBe(clock.now() + 250);
    expect(await queue.poll({ limit: 1, leaseMs: 60_000 })).toEqual([]);
    clock.advance(250);
    const [again] = await queue.poll({ limit: 1, leaseMs: 60_000 });
    expect([again!.attempts, again!.maxAttempts]).toEqual([2, 5]);
    const [row] = await admin(async (c) => (await c.query(`SELECT last_error FROM "${schema}".queue_messages`)).rows);
    expect(row.last_error).toBe('first failure');
    expect(await queue.reschedule(d!, 0)).toBe(false); // the old delivery's token is gone
  });

  it('dead-letters exhausted messages (on reschedule and on poll), lists, replays and clears them', async () => {
    await queue.push(Messages.startTask('w', 's', 'task-1'), { maxAttempts: 2 });
    let [d] = await queue.poll({ limit: 1, leaseMs: 1_000 });
    await queue.reschedule(d!, 0, 'first failure');
    [d] = await queue.poll({ limit: 1, leaseMs: 1_000 });
    expect(d!.attempts).toBe(2);
    expect(await queue.reschedule(d!, 0, 'second failure')).toBe(true);
    expect(await queue.size()).toBe(0);
    // Exhausted while leased by a worker that died: moved when the lease ends and a poll finds it.
    await queue.push(Messages.startWorkflow('orphan'), { maxAttempts: 1 });
    await queue.push(Messages.startWorkflow('healthy'));
    const [orphan] = await queue.poll({ limit: 1, leaseMs: 1_000 });
    expect((orphan!.message as { executionId: string }).executionId).toBe('orphan');
    clock.advance(1_000);
    const polled = await queue.poll({ limit: 1, leaseMs: 1_000 });
    expect(polled.map((x) => (x.message as { executionId: string }).executionId)).toEqual(['healthy']);
    expect(await queue.deadLetterCount()).toBe(2);

    const letters = await queue.listDeadLetters();
    expect(letters.map((l) => [l.messageType, l.attempts, l.error])).toEqual([
      ['StartTask', 2, 'Exceeded max_attempts (2): second failure'],
      ['StartWorkflow', 1, 'Exceeded max_attempts (1)'],
    ]);
    expect(letters[0]!.message).toEqual(Messages.startTask('w', 's', 'task-1'));
    expect(JSON.parse(letters[0]!.payload)).toEqual(Messages.startTask('w', 's', 'task-1'));
    expect(letters[0]!.movedAt).toBe(clock.now() - 1_000);
    expect(letters[0]!.originalId).toBe(d!.id);
    expect((await queue.listDeadLetters({ messageType: 'StartWorkflow' })).map((l) => l.messageType)).toEqual(['StartWorkflow']);
    expect(await queue.listDeadLetters({ limit: 1 })).toHaveLength(1);

    expect(await queue.replayDeadLetter(letters[0]!.id)).toBe(true);
    expect(await queue.replayDeadLetter(letters[0]!.id)).toBe(false);
    expect(await queue.replayDeadLetter('nope')).toBe(false);
    const [replayed] = await queue.poll({ limit: 1, leaseMs: 1_000 });
    expect(replayed!.message).toEqual(Messages.startTask('w', 's', 'task-1'));
    expect(replayed!.attempts).toBe(1);
    expect(await queue.clearDeadLetters()).toBe(1);
    expect(await queue.deadLetterCount()).toBe(0);
  });

  it('dead-letters a row whose payload is not a message instead of delivering it', async () => {
    await admin((c) => c.query(`INSERT INTO "${schema}".queue_messages (message_type, payload, deliver_at) VALUES ('Bogus', '[1, 2]', '2000-01-01')`));
    await queue.push(Messages.startWorkflow('fine'));
    const got = await queue.poll({ limit: 5, leaseMs: 1_000 });
    expect(got.map((d) => d.message.type)).toEqual(['StartWorkflow']);
    const [letter] = await queue.listDeadLetters();
    expect(letter!.message).toBeNull();
    expect(letter!.error).toMatch(/Deserialization failed/);
    expect(await queue.replayDeadLetter(letter!.id)).toBe(false);
  });

  it('finds pending messages of a task, delayed and leased ones included', async () => {
    await queue.push(Messages.runTask('w', 's', 'task-9', 'shell'), { delayMs: 60_000 });
    expect(await queue.hasPendingMessageForTask('task-9')).toBe(true);
    expect(await queue.hasPendingMessageForTask('task-8')).toBe(false);
    clock.advance(60_000);
    const [d] = await queue.poll({ limit: 1, leaseMs: 1_000 });
    expect(await queue.hasPendingMessageForTask('task-9')).toBe(true);
    await queue.ack(d!);
    expect(await queue.hasPendingMessageForTask('task-9')).toBe(false);
    const plan = await admin(async (c) => (await c.query(`EXPLAIN SELECT 1 FROM "${schema}".queue_messages WHERE task_id = 'x'`)).rows.map((r) => r['QUERY PLAN']).join('\n'));
    expect(plan).toMatch(/idx_queue_messages_task_id|Seq Scan/); // tiny tables may still seq-scan
  });

  it('pushes follow-up messages of a commit with task ids, in push order', async () => {
    const store = new PostgresWorkflowStore(url, { clock });
    try {
      const w = Workflow.create({ application: 'app', name: 'push', stages: [new StageExecution({ refId: 'a' })] });
      await store.store(w);
      await store.commit(new Transaction().push(Messages.startTask(w.id, 's', 't1')).push(Messages.startTask(w.id, 's', 't2'), 100).push(Messages.startTask(w.id, 's', 't3')));
      expect(await queue.hasPendingMessageForTask('t2')).toBe(true);
      const got = await queue.poll({ limit: 10, leaseMs: 1_000 });
      expect(got.map((d) => (d.message as { taskId: string }).taskId)).toEqual(['t1', 't3']);
      expect(await queue.nextDeliveryTime()).toBe(clock.now() + 100);
    } finally {
      await store.close();
    }
  });

  it('uses the database clock when no clock is injected', async () => {
    const dbQueue = new PostgresQueue(`${url}&application_name=db_clock`);
    try {
      await dbQueue.push(Messages.startWorkflow('soon'), { delayMs: 300 });
      const [row] = await admin(async (c) => (await c.query(`SELECT (extract(epoch from deliver_at - now()) * 1000)::float8 AS ahead FROM "${schema}".queue_messages`)).rows);
      expect(row.ahead).toBeGreaterThan(200);
      expect(row.ahead).toBeLessThanOrEqual(300);
      expect(await dbQueue.poll({ limit: 1, leaseMs: 100 })).toEqual([]);
      await new Promise((r) => setTimeout(r, 350));
      const [d] = await dbQueue.poll({ limit: 1, leaseMs: 100 });
      expect(d).toBeDefined();
      expect(Math.abs(d!.deliverAt - Date.now())).toBeLessThan(60_000);
      await new Promise((r) => setTimeout(r, 150));
      const [again] = await dbQueue.poll({ limit: 1, leaseMs: 100 }); // lease of 100 ms expired
      expect(again!.attempts).toBe(2);
    } finally {
      await dbQueue.close();
    }
  });
});
