// persistence.md §8.8 #65: the in-process bus.
import { describe, expect, it } from 'vitest';
import { EventBus } from '../src/index.js';
import { ev } from './support/events.js';

describe('EventBus (#65)', () => {
  it('filters by event type, entity type, workflow and stage', () => {
    const bus = new EventBus();
    const got: Record<string, string[]> = { types: [], entities: [], workflow: [], stage: [], all: [] };
    bus.subscribe((e) => void got.types!.push(e.eventType), { eventTypes: ['stage.completed'] });
    bus.subscribe((e) => void got.entities!.push(e.eventType), { entityTypes: ['task'] });
    bus.subscribe((e) => void got.workflow!.push(e.eventType), { workflowId: 'w1' });
    bus.subscribe((e) => void got.stage!.push(e.eventType), { stageId: 's1' });
    bus.subscribe((e) => void got.all!.push(e.eventType));
    bus.publishAll([
      ev('w1', 'stage.completed', { entityType: 'stage', entityId: 's1' }),
      ev('w2', 'task.started', { entityType: 'task', entityId: 't1', data: { stage_id: 's1' } }),
      ev('w2', 'workflow.changed', { data: { stages: { s1: { version: 2 } } } }),
      ev('w2', 'stage.started', { entityType: 'stage', entityId: 's2' }),
    ]);
    expect(got).toEqual({
      types: ['stage.completed'],
      entities: ['task.started'],
      workflow: ['stage.completed'],
      stage: ['stage.completed', 'task.started', 'workflow.changed'],
      all: ['stage.completed', 'task.started', 'workflow.changed', 'stage.started'],
    });
  });

  it('unsubscribe, disable / enable, and re-subscribing an id replaces it', () => {
    const bus = new EventBus();
    const got: string[] = [];
    const sub = bus.subscribe(() => void got.push('a'), { id: 'a' });
    bus.publish(ev('w', 'x'));
    bus.disable('a');
    bus.publish(ev('w', 'x'));
    bus.enable('a');
    bus.publish(ev('w', 'x'));
    bus.subscribe(() => void got.push('a2'), { id: 'a' });
    bus.publish(ev('w', 'x'));
    expect(sub.unsubscribe()).toBe(true);
    bus.publish(ev('w', 'x'));
    expect(bus.unsubscribe('a')).toBe(false);
    expect(got).toEqual(['a', 'a', 'a2']);
  });

  it('isolates errors: a failing subscriber (sync or async) never stops a healthy one; the error handler sees them', async () => {
    const errors: Array<[string, string, string]> = [];
    const bus = new EventBus({ onError: (id, e, error) => errors.push([id, e.eventType, (error as Error).message]) });
    const got: string[] = [];
    bus.subscribe(
      () => {
        throw new Error('boom');
      },
      { id: 'bad' },
    );
    bus.subscribe(async () => Promise.reject(new Error('late boom')), { id: 'bad-async' });
    bus.subscribe((e) => void got.push(e.eventType), { id: 'good' });
    expect(() => bus.publish(ev('w', 'x.one'))).not.toThrow();
    bus.publish(ev('w', 'x.two'));
    await new Promise((r) => setTimeout(r, 0));
    expect(got).toEqual(['x.one', 'x.two']);
    expect(errors.filter(([id]) => id === 'bad')).toEqual([
      ['bad', 'x.one', 'boom'],
      ['bad', 'x.two', 'boom'],
    ]);
    expect(errors.filter(([id]) => id === 'bad-async')).toHaveLength(2);
    expect(bus.stats).toEqual({ eventsPublished: 2, eventsDelivered: 2, errors: 4, subscriptionsActive: 3 });
    bus.onError(() => {
      throw new Error('the error handler fails too');
    });
    expect(() => bus.publish(ev('w', 'x.three'))).not.toThrow();
  });

  it('stats count publications and deliveries; publish after close is dropped; reset reopens', () => {
    const bus = new EventBus();
    bus.subscribe(() => {});
    bus.publish(ev('w', 'x'));
    bus.publish(ev('w', 'y'));
    expect(bus.stats).toEqual({ eventsPublished: 2, eventsDelivered: 2, errors: 0, subscriptionsActive: 1 });
    bus.close();
    bus.publish(ev('w', 'z'));
    expect(bus.stats.eventsPublished).toBe(2);
    bus.reset();
    expect(bus.stats).toEqual({ eventsPublished: 0, eventsDelivered: 0, errors: 0, subscriptionsActive: 0 });
    expect(bus.hasSubscribers).toBe(false);
  });

  it('an async subscriber gets events in publish order even when the first delivery is slow, after publish returns', async () => {
    const bus = new EventBus();
    const got: string[] = [];
    bus.subscribe(
      async (e) => {
        if (e.eventType === 'first') await new Promise((r) => setTimeout(r, 30));
        got.push(e.eventType);
      },
      { mode: 'async' },
    );
    bus.publish(ev('w', 'first'));
    bus.publish(ev('w', 'second'));
    bus.publish(ev('w', 'third'));
    expect(got).toEqual([]);
    await bus.idle();
    expect(got).toEqual(['first', 'second', 'third']);
    expect(bus.stats.eventsDelivered).toBe(3);
  });
});
