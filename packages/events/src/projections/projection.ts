// Projections (persistence.md §5.9): read models folded from events. A projection is anything with
// `apply`, `getState` and `reset`; feed it from a store (batch, `runProjection`), from the bus (live,
// `projectFromBus`) or from a durable subscription (resumable, see subscriptions.ts).
//
// Writing your own:
//
//   class FailuresPerApplication implements Projection<Map<string, number>> {
//     readonly name = 'failures-per-application';
//     private readonly apps = new Map<string, string>();   // workflow id -> application
//     private readonly counts = new Map<string, number>();
//     apply(event: EventRecord): void {
//       if (event.eventType === 'workflow.created') this.apps.set(event.workflowId, String(event.data.application));
//       if (event.eventType === 'workflow.failed') {
//         const app = this.apps.get(event.workflowId) ?? 'unknown';
//         this.counts.set(app, (this.counts.get(app) ?? 0) + 1);
//       }
//     }
//     getState() { return new Map(this.counts); }
//     reset() { this.apps.clear(); this.counts.clear(); }
//   }
//
// Rules of thumb: make `apply` idempotent (de-duplicate by `eventId`: subscriptions deliver at least
// once); ignore event types you do not know (new ones appear); skip `workflow.changed` unless you
// need field-level state (`isStateEvent`); upcast with an UpcasterRegistry if you read old payloads.
import type { EventRecord, EventStore } from '@stabilize/core';
import type { EventBus, BusSubscription, EventFilter } from '../bus.js';

export interface Projection<S = unknown> {
  readonly name: string;
  apply(event: EventRecord): void;
  getState(): S;
  reset(): void;
}

/**
 * Folds stored events into `projection`: one workflow's (`workflowId`), or all in position order
 * (paged by `batchSize`). Returns the number of events applied.
 */
export async function runProjection(projection: Projection, store: EventStore, options: { workflowId?: string; afterPosition?: number; batchSize?: number } = {}): Promise<number> {
  if (options.workflowId !== undefined && options.afterPosition === undefined) {
    const events = await store.readWorkflow(options.workflowId);
    for (const event of events) projection.apply(event);
    return events.length;
  }
  let after = options.afterPosition ?? 0;
  let applied = 0;
  for (;;) {
    const batch = await store.readAll({ afterPosition: after, limit: options.batchSize ?? 1000, ...(options.workflowId !== undefined ? { workflowId: options.workflowId } : {}) });
    for (const event of batch) projection.apply(event);
    applied += batch.length;
    if (batch.length === 0) return applied;
    after = batch[batch.length - 1]!.position;
  }
}

/** Keeps `projection` up to date with the events published on `bus` (after commit). */
export function projectFromBus(projection: Projection, bus: EventBus, filter: EventFilter = {}): BusSubscription {
  return bus.subscribe((event) => projection.apply(event), { ...filter, id: `projection:${projection.name}` });
}
