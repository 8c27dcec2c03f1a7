// LISTEN/NOTIFY wake-ups. The waiter and the pusher use different URLs, hence different pools and
// different LISTEN connections: only a real NOTIFY through the server can wake the waiter.
import { Messages, StageExecution, Transaction, Workflow } from '@stabilize/core';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { PostgresQueue, PostgresWorkflowStore } from '../src/index.js';
import { describePg, dropSchema, migratedSchema, sql } from './pg.js';

describePg('LISTEN/NOTIFY wake-ups', () => {
  let schema = '';
  let url = '';
  let waiter: PostgresQueue;
  let pusher: PostgresQueue;

  beforeAll(async () => {
    ({ schema, url } = await migratedSchema('notify'));
    waiter = new PostgresQueue(`${url}&application_name=${schema}_waiter`);
    pusher = new PostgresQueue(`${url}&application_name=${schema}_pusher`);
    // Establish LISTEN once (the first wait returns once it is in effect).
    await waiter.waitForMessages(2_000);
  });
  afterAll(async () => {
    await waiter?.close();
    await pusher?.close();
    await dropSchema(schema);
  });

  async function timedWait(maxWaitMs: number, action: () => Promise<void>, signal?: AbortSignal): Promise<number> {
    const started = performance.now();
    const waiting = waiter.waitForMessages(maxWaitMs, signal);
    await new Promise((r) => setTimeout(r, 30));
    await action();
    await waiting;
    return performance.now() - started;
  }

  it('wakes a waiter in another pool well before its max wait when a message is pushed', async () => {
    const elapsed = await timedWait(5_000, () => pusher.push(Messages.startWorkflow('w')));
    expect(elapsed).toBeLessThan(1_000);
    const [d] = await waiter.poll({ limit: 1, leaseMs: 1_000 });
    expect(d).toBeDefined();
    await waiter.ack(d!);
  });

  it('wakes a waiter when a store commit pushes follow-up messages', async () => {
    const store = new PostgresWorkflowStore(`${url}&application_name=${schema}_store`);
    try {
      const w = Workflow.create({ application: 'app', name: 'n', stages: [new StageExecution({ refId: 'a' })] });
      await store.store(w);
      await waiter.poll({ limit: 1, leaseMs: 1 }); // marks "polled now"
      const elapsed = await timedWait(5_000, () => store.commit(new Transaction().push(Messages.startWorkflow(w.id))));
      expect(elapsed).toBeLessThan(1_000);
    } finally {
      await store.close();
    }
    for (const d of await waiter.poll({ limit: 10, leaseMs: 1_000 })) await waiter.ack(d);
  });

  it('sleeps the full bounded wait when nothing happens, and returns at once on abort', async () => {
    await waiter.poll({ limit: 1, leaseMs: 1 });
    const started = performance.now();
    await waiter.waitForMessages(300);
    expect(performance.now() - started).toBeGreaterThanOrEqual(290);
    const controller = new AbortController();
    const elapsed = await timedWait(5_000, async () => controller.abort(), controller.signal);
    expect(elapsed).toBeLessThan(1_000);
  });

  it('returns at once when a wake-up arrived between the last poll and the wait (no lost wake-up)', async () => {
    await waiter.poll({ limit: 1, leaseMs: 1 });
    await pusher.push(Messages.startWorkflow('between'));
    await new Promise((r) => setTimeout(r, 100)); // the NOTIFY arrives while nobody waits
    const started = performance.now();
    await waiter.waitForMessages(5_000);
    expect(performance.now() - started).toBeLessThan(500);
    // ...but only once: the next wait (still without a poll) sleeps.
    const again = performance.now();
    await waiter.waitForMessages(200);
    expect(performance.now() - again).toBeGreaterThanOrEqual(190);
    for (const d of await waiter.poll({ limit: 10, leaseMs: 1_000 })) await waiter.ack(d);
  });

  it('reconnects the LISTEN connection after the server kills it, and wakes waiters again', async () => {
    const killed = await sql<{ ok: boolean }>(`SELECT pg_terminate_backend(pid) AS ok FROM pg_stat_activity WHERE application_name = $1`, [`${schema}_waiter-listener`]);
    expect(killed.length).toBe(1);
    // While it is down, a waiter still returns after its bounded wait (polling fallback).
    await waiter.poll({ limit: 1, leaseMs: 1 });
    const started = performance.now();
    await waiter.waitForMessages(150);
    expect(performance.now() - started).toBeLessThan(1_000);
    // Back within the backoff; then pushes wake waiters as before.
    const deadline = performance.now() + 5_000;
    while (performance.now() < deadline) {
      const rows = await sql(`SELECT 1 FROM pg_stat_activity WHERE application_name = $1 AND query ILIKE 'LISTEN%'`, [`${schema}_waiter-listener`]);
      if (rows.length > 0) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    await new Promise((r) => setTimeout(r, 50));
    await waiter.poll({ limit: 1, leaseMs: 1 });
    const elapsed = await timedWait(5_000, () => pusher.push(Messages.startWorkflow('after-reconnect')));
    expect(elapsed).toBeLessThan(1_000);
    for (const d of await waiter.poll({ limit: 10, leaseMs: 1_000 })) await waiter.ack(d);
  });
});
