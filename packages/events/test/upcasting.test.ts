// persistence.md §8.9 #71: schema versions and upcasting.
import { InMemoryEventStore, createInMemoryBackend } from '@stabilize/core';
import { eventRecord } from '@stabilize/core/testing';
import { describe, expect, it } from 'vitest';
import { EventReplayer, UpcastError, UpcasterRegistry } from '../src/index.js';

const workflowDoc = (id: string) => ({ id, type: 'PIPELINE', application: 'app', name: 'legacy', status: 'NOT_STARTED', stages: [], context: {}, trigger: { type: 'manual', user: 'u', parameters: {}, artifacts: [], payload: {} } });

describe('upcasting (#71)', () => {
  it('a stored v1 event in an old shape rebuilds through a registered 1 -> 2 step', async () => {
    const { store } = createInMemoryBackend();
    const events = new InMemoryEventStore(store);
    const id = 'wf-legacy';
    await events.append([
      eventRecord(id, 'workflow.created', { data: { definition: workflowDoc(id) } }),
      // v1 of this (imagined) payload named the field `legacy_status`.
      eventRecord(id, 'workflow.changed', { data: { workflow: { legacy_status: 'SUCCEEDED' } } }),
    ]);
    const upcasters = new UpcasterRegistry().register('workflow.changed', 1, (e) => {
      const { legacy_status, ...rest } = (e.data.workflow ?? {}) as Record<string, unknown>;
      return { ...e, data: { ...e.data, workflow: { ...rest, status: legacy_status } } };
    });
    expect((await new EventReplayer(events, { upcasters, schemaVersion: 2 }).rebuildWorkflowState(id)).status).toBe('SUCCEEDED');
    // Without the step replay does not throw (lenient); the unknown field is simply there.
    const lenient = await new EventReplayer(events, { schemaVersion: 2 }).rebuildWorkflowState(id);
    expect(lenient.status).toBe('NOT_STARTED');
    // Stored events are never rewritten.
    expect((await events.readWorkflow(id))[1]!.schemaVersion).toBe(1);
  });

  it('strict upcasting throws on a missing step; same version returns the same object; never downcasts', () => {
    const registry = new UpcasterRegistry();
    const e = eventRecord('w', 'stage.completed');
    expect(() => registry.upcast(e, 2)).toThrow(UpcastError);
    expect(() => registry.upcast(e, 2)).toThrow('No upcaster registered for stage.completed from schema v1 to v2');
    expect(registry.upcast(e, 2, { strict: false })).toBe(e);
    expect(registry.upcast(e, 1)).toBe(e);
    const newer = { ...e, schemaVersion: 3 };
    expect(registry.upcast(newer, 2)).toBe(newer);
  });

  it('walks several steps; a type-specific step wins over a wildcard', () => {
    const registry = new UpcasterRegistry()
      .register('*', 1, (e) => ({ ...e, data: { ...e.data, via: ['*1'] } }))
      .register('stage.completed', 1, (e) => ({ ...e, data: { ...e.data, via: ['s1'] } }))
      .register('*', 2, (e) => ({ ...e, data: { ...e.data, via: [...(e.data.via as string[]), '*2'] } }));
    expect(registry.upcast(eventRecord('w', 'stage.completed'), 3).data.via).toEqual(['s1', '*2']);
    const other = registry.upcast(eventRecord('w', 'task.started'), 3);
    expect(other.data.via).toEqual(['*1', '*2']);
    expect(other.schemaVersion).toBe(3);
    expect(registry.registered).toEqual([
      ['*', 1],
      ['*', 2],
      ['stage.completed', 1],
    ]);
    expect(() => registry.register('x', 0, (e) => e)).toThrow(RangeError);
  });
});
