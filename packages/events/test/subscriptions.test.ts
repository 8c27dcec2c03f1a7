// persistence.md §8.9 #75: durable subscriptions with checkpoints, on both backends.
import { eventRecord } from '@stabilize/core/testing';
import { afterEach, describe, expect, it } from 'vitest';
import { SubscriptionManager } from '../src/index.js';
import { BACKENDS, type RawBackend } from './support/backends.js';

describe.each(BACKENDS)('durable subscriptions (#75): $name', ({ open }) => {
  let b: RawBackend;
  afterEach(async () => {
    await b?.close();
  });
  const five = async () => (await b.events.append(Array.from({ length: 5 }, (_, i) => eventRecord('w1', `e.${i + 1}`)))).map((e) => e.position);

  it('from the beginning: every existing event, in order, then only new ones', async () => {
    b = open();
    const positions = await five();
    const got: string[] = [];
    const manager = new SubscriptionManager(b.events, { batchSize: 2 });
    await manager.subscribe('audit', (e) => void got.push(e.eventType), { startFrom: 'beginning' });
    expect(await manager.drain()).toBe(5);
    expect(got).toEqual(['e.1', 'e.2', 'e.3', 'e.4', 'e.5']);
    expect(await b.events.loadCheckpoint('audit')).toBe(positions[4]);
    await b.events.append([eventRecord('w2', 'e.6')]);
    await manager.drain();
    expect(got.at(-1)).toBe('e.6');
  });

  it('a failing handler stops at the failed event; the next poll delivers it again (at least once)', async () => {
    b = open();
    const positions = await five();
    const got: string[] = [];
    let fail = true;
    const errors: string[] = [];
    const manager = new SubscriptionManager(b.events, { onError: (id, e) => errors.push(`${id}:${e.eventType}`) });
    await manager.subscribe('flaky', (e) => {
      if (e.eventType === 'e.3' && fail) throw new Error('not now');
      got.push(e.eventType);
    });
    await manager.pollOnce();
    expect(got).toEqual(['e.1', 'e.2']);
    expect(errors).toEqual(['flaky:e.3']);
    expect(await b.events.loadCheckpoint('flaky')).toBe(positions[1]); // e.1 and e.2 are done
    expect(await manager.status('flaky')).toMatchObject({ enabled: true, position: positions[1], lag: 3, errorCount: 1, lastError: 'not now' });
    fail = false;
    await manager.pollOnce();
    expect(got).toEqual(['e.1', 'e.2', 'e.3', 'e.4', 'e.5']);
    expect(await manager.status('flaky')).toMatchObject({ lag: 0, errorCount: 0 });
  });

  it('a restarted manager resumes from the saved checkpoint; an unsaved handling is delivered again', async () => {
    b = open();
    await five();
    const first: string[] = [];
    const m1 = new SubscriptionManager(b.events, { batchSize: 3 });
    await m1.subscribe('resumable', (e) => void first.push(e.eventType));
    await m1.pollOnce();
    expect(first).toEqual(['e.1', 'e.2', 'e.3']);
    // "crash": a new manager (process) with the same id
    const second: string[] = [];
    const m2 = new SubscriptionManager(b.events);
    await m2.subscribe('resumable', (e) => void second.push(e.eventType), { startFrom: 'latest' }); // a checkpoint wins over startFrom
    await m2.drain();
    expect(second).toEqual(['e.4', 'e.5']);
  });

  it('startFrom latest skips what is stored now; a position starts after it', async () => {
    b = open();
    const positions = await five();
    const latest: string[] = [];
    const after: string[] = [];
    const manager = new SubscriptionManager(b.events);
    await manager.subscribe('latest', (e) => void latest.push(e.eventType), { startFrom: 'latest' });
    await manager.subscribe('after', (e) => void after.push(e.eventType), { startFrom: positions[2]! });
    expect(await b.events.loadCheckpoint('latest')).toBe(positions[4]);
    await b.events.append([eventRecord('w1', 'e.6')]);
    await manager.drain();
    expect(latest).toEqual(['e.6']);
    expect(after).toEqual(['e.4', 'e.5', 'e.6']);
  });

  it('filters: types and workflow in the store, entity types and stage here; skipped events still advance', async () => {
    b = open();
    await b.events.append([eventRecord('w1', 'stage.started', { entityType: 'stage', entityId: 's1' }), eventRecord('w2', 'stage.started', { entityType: 'stage', entityId: 's2' }), eventRecord('w1', 'task.started', { entityType: 'task', entityId: 't1', data: { stage_id: 's1' } })]);
    const got: string[] = [];
    const manager = new SubscriptionManager(b.events);
    await manager.subscribe('w1-stage-s1', (e) => void got.push(`${e.workflowId}:${e.eventType}`), { workflowId: 'w1', stageId: 's1' });
    await manager.subscribe('types', (e) => void got.push(`types:${e.eventType}`), { eventTypes: ['task.started'] });
    await manager.subscribe('entities', (e) => void got.push(`entities:${e.entityId}`), { entityTypes: ['stage'] });
    await manager.drain();
    expect(got.sort()).toEqual(['entities:s1', 'entities:s2', 'types:task.started', 'w1:stage.started', 'w1:task.started'].sort());
    expect(await b.events.loadCheckpoint('entities')).toBe((await b.events.readAll()).at(-1)!.position);
  });

  it('10 consecutive failures disable a subscription until enabled again', async () => {
    b = open();
    await five();
    const manager = new SubscriptionManager(b.events);
    let calls = 0;
    await manager.subscribe('broken', () => {
      calls += 1;
      throw new Error('always');
    });
    for (let i = 0; i < 12; i++) await manager.pollOnce();
    expect(calls).toBe(10);
    expect(await manager.status('broken')).toMatchObject({ enabled: false, errorCount: 10, position: 0, lag: 5 });
    expect(manager.enable('broken')).toBe(true);
    await manager.pollOnce();
    expect(calls).toBe(11);
  });

  it('start / stop: a background loop delivers new events as they come', async () => {
    b = open();
    const got: string[] = [];
    const manager = new SubscriptionManager(b.events, { pollIntervalMs: 5 });
    await manager.subscribe('live', (e) => void got.push(e.eventType));
    manager.start();
    await b.events.append([eventRecord('w', 'live.1')]);
    for (let i = 0; i < 100 && got.length === 0; i++) await new Promise((r) => setTimeout(r, 5));
    await manager.stop();
    expect(got).toEqual(['live.1']);
    expect(await manager.statusAll()).toHaveLength(1);
    expect(manager.unsubscribe('live')).toBe(true);
  });
});
