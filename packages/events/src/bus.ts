// In-process publish/subscribe for committed events (persistence.md §5.5). The recorder publishes a
// transaction's events after the store committed it, never before, and never those of a transaction
// that failed. A subscriber's error (thrown or rejected) never reaches the publisher or another
// subscriber; it is counted and passed to the error handler.
import { type EntityType, type EventRecord, ulid } from '@stabilize/core';

export type EventHandler = (event: EventRecord) => void | Promise<void>;

export interface EventFilter {
  /** Only these event types. */
  eventTypes?: readonly string[];
  /** Only events of these entity types. */
  entityTypes?: readonly EntityType[];
  /** Only events of this workflow. */
  workflowId?: string;
  /**
   * Only events about this stage: the stage's own events, its tasks' events (`data.stage_id`) and
   * `workflow.changed` events that write it.
   */
  stageId?: string;
}

/**
 * `sync`: the handler runs inside `publish` (a returned promise is not awaited, its rejection is
 * caught). `async`: events queue per subscriber and are handled one at a time, in publish order,
 * after `publish` returns.
 */
export type DeliveryMode = 'sync' | 'async';

export interface SubscribeOptions extends EventFilter {
  /** Subscription id (default: a new ULID). Subscribing again with an id replaces that subscription. */
  id?: string;
  mode?: DeliveryMode;
}

export interface BusSubscription {
  readonly id: string;
  unsubscribe(): boolean;
}

export interface BusStats {
  eventsPublished: number;
  eventsDelivered: number;
  errors: number;
  subscriptionsActive: number;
}

export type BusErrorHandler = (subscriptionId: string, event: EventRecord, error: unknown) => void;

interface Entry {
  id: string;
  handler: EventHandler;
  filter: EventFilter;
  types: ReadonlySet<string> | null;
  entities: ReadonlySet<string> | null;
  mode: DeliveryMode;
  enabled: boolean;
  queue: EventRecord[];
  draining: Promise<void> | null;
}

/** Whether `event` passes `filter`. */
export function matchesFilter(event: EventRecord, filter: EventFilter): boolean {
  if (filter.eventTypes && !filter.eventTypes.includes(event.eventType)) return false;
  if (filter.entityTypes && !filter.entityTypes.includes(event.entityType)) return false;
  if (filter.workflowId !== undefined && event.workflowId !== filter.workflowId) return false;
  if (filter.stageId !== undefined && !concernsStage(event, filter.stageId)) return false;
  return true;
}

function concernsStage(event: EventRecord, stageId: string): boolean {
  if (event.entityType === 'stage' && event.entityId === stageId) return true;
  const data = event.data as { stage_id?: unknown; stages?: Record<string, unknown>; insertedStages?: Array<{ id?: unknown }> };
  if (data.stage_id === stageId) return true;
  if (data.stages && Object.hasOwn(data.stages, stageId)) return true;
  return Array.isArray(data.insertedStages) && data.insertedStages.some((s) => s?.id === stageId);
}

export class EventBus {
  private readonly entries = new Map<string, Entry>();
  private errorHandler: BusErrorHandler | null;
  private closed = false;
  private readonly counters = { eventsPublished: 0, eventsDelivered: 0, errors: 0 };

  constructor(options: { onError?: BusErrorHandler } = {}) {
    this.errorHandler = options.onError ?? null;
  }

  /** Subscribes `handler` to the events passing `options` (all events without a filter). */
  subscribe(handler: EventHandler, options: SubscribeOptions = {}): BusSubscription {
    const { id = ulid(), mode = 'sync', ...filter } = options;
    this.entries.delete(id); // re-subscribing an id replaces it (and moves it last)
    this.entries.set(id, {
      id,
      handler,
      filter,
      types: filter.eventTypes ? new Set(filter.eventTypes) : null,
      entities: filter.entityTypes ? new Set(filter.entityTypes) : null,
      mode,
      enabled: true,
      queue: [],
      draining: null,
    });
    return { id, unsubscribe: () => this.unsubscribe(id) };
  }

  unsubscribe(id: string): boolean {
    return this.entries.delete(id);
  }

  enable(id: string): boolean {
    const entry = this.entries.get(id);
    if (entry) entry.enabled = true;
    return entry !== undefined;
  }

  disable(id: string): boolean {
    const entry = this.entries.get(id);
    if (entry) entry.enabled = false;
    return entry !== undefined;
  }

  /** Replaces the error handler (called with the subscription id, the event and the error). */
  onError(handler: BusErrorHandler | null): void {
    this.errorHandler = handler;
  }

  /** Whether anything is subscribed (the recorder skips publication otherwise). */
  get hasSubscribers(): boolean {
    return this.entries.size > 0;
  }

  get stats(): BusStats {
    return { ...this.counters, subscriptionsActive: [...this.entries.values()].filter((e) => e.enabled).length };
  }

  /** Delivers `event` to every matching subscriber, in subscription order. Dropped after `close()`. */
  publish(event: EventRecord): void {
    if (this.closed) return;
    this.counters.eventsPublished += 1;
    for (const entry of [...this.entries.values()]) {
      if (!entry.enabled || !this.matches(entry, event)) continue;
      if (entry.mode === 'async') {
        entry.queue.push(event);
        entry.draining ??= this.drain(entry);
      } else {
        this.deliver(entry, event);
      }
    }
  }

  publishAll(events: readonly EventRecord[]): void {
    for (const event of events) this.publish(event);
  }

  /** Resolves when every async subscriber has handled everything published so far. */
  async idle(): Promise<void> {
    for (;;) {
      const pending = [...this.entries.values()].map((e) => e.draining).filter((p): p is Promise<void> => p !== null);
      if (pending.length === 0) return;
      await Promise.all(pending);
    }
  }

  /** Stops publication; queued async deliveries still finish (await `idle()`). */
  close(): void {
    this.closed = true;
  }

  /** Clears subscriptions and statistics and reopens the bus. */
  reset(): void {
    this.entries.clear();
    this.counters.eventsPublished = this.counters.eventsDelivered = this.counters.errors = 0;
    this.closed = false;
  }

  private matches(entry: Entry, event: EventRecord): boolean {
    if (entry.types && !entry.types.has(event.eventType)) return false;
    if (entry.entities && !entry.entities.has(event.entityType)) return false;
    if (entry.filter.workflowId !== undefined && event.workflowId !== entry.filter.workflowId) return false;
    return entry.filter.stageId === undefined || concernsStage(event, entry.filter.stageId);
  }

  private deliver(entry: Entry, event: EventRecord): void {
    try {
      const result = entry.handler(event);
      if (result && typeof (result as Promise<void>).then === 'function') {
        (result as Promise<void>).then(
          () => void (this.counters.eventsDelivered += 1),
          (error: unknown) => this.failed(entry, event, error),
        );
      } else {
        this.counters.eventsDelivered += 1;
      }
    } catch (error) {
      this.failed(entry, event, error);
    }
  }

  private async drain(entry: Entry): Promise<void> {
    try {
      for (let event = entry.queue.shift(); event !== undefined; event = entry.queue.shift()) {
        await Promise.resolve(); // never inside publish()
        try {
          await entry.handler(event);
          this.counters.eventsDelivered += 1;
        } catch (error) {
          this.failed(entry, event, error);
        }
      }
    } finally {
      entry.draining = null;
    }
  }

  private failed(entry: Entry, event: EventRecord, error: unknown): void {
    this.counters.errors += 1;
    try {
      this.errorHandler?.(entry.id, event, error);
    } catch {
      // an error handler's own failure is dropped: it must not break publication
    }
  }
}
