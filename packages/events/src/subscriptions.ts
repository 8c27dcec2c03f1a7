// Durable subscriptions (persistence.md §5.10): a handler fed every committed event in global
// position order, with its progress (the position of the last event it handled) checkpointed in the
// event store, so a restarted process resumes where the last one stopped.
//
// * At least once: the checkpoint is saved after the handler returned, so a crash in between
//   delivers that event again. Make handlers idempotent (e.g. remember `eventId`s).
// * Never skipping: the store's `readAll` only returns events below any position that may still
//   commit (SQLite: one writer, positions commit in order; PostgreSQL: the transaction-id horizon),
//   so an event can never appear later behind a checkpoint.
// * A failing handler stops its subscription at the failed event; the events before it stay handled
//   (their position is checkpointed, unlike upstream, which re-delivered the whole batch). After
//   `maxErrors` consecutive failures the subscription is disabled until `enable(id)`.
// * One consumer per subscription id: two processes running the same id both receive the events.
import type { EventRecord, EventStore } from '@stabilize/core';
import { type EventFilter, matchesFilter } from './bus.js';

export type DurableHandler = (event: EventRecord) => void | Promise<void>;

export interface DurableSubscriptionOptions extends EventFilter {
  /**
   * Where a subscription without a saved checkpoint starts: 'beginning' (default), 'latest' (after
   * the newest event now stored; saved at once) or after a given position.
   */
  startFrom?: 'beginning' | 'latest' | number;
  /** Consecutive failures before the subscription is disabled. Default 10. */
  maxErrors?: number;
}

export interface SubscriptionStatus {
  id: string;
  enabled: boolean;
  /** Position of the last event handled (the checkpoint). */
  position: number;
  /** Events stored after the checkpoint that the filter may select (counted up to 10 000). */
  lag: number;
  errorCount: number;
  lastError: string | null;
}

export interface SubscriptionManagerOptions {
  /** Pause between polls when a subscription is caught up. Default 1000 ms. */
  pollIntervalMs?: number;
  /** Events read per poll. Default 100. */
  batchSize?: number;
  /** Called with every handler failure. */
  onError?: (subscriptionId: string, event: EventRecord, error: unknown) => void;
}

interface Subscription {
  id: string;
  handler: DurableHandler;
  filter: EventFilter;
  position: number;
  enabled: boolean;
  errorCount: number;
  lastError: string | null;
  maxErrors: number;
  busy: Promise<number> | null;
}

export class SubscriptionManager {
  private readonly subscriptions = new Map<string, Subscription>();
  private readonly pollIntervalMs: number;
  private readonly batchSize: number;
  private readonly onError: SubscriptionManagerOptions['onError'];
  private loop: Promise<void> | null = null;
  private stopController: AbortController | null = null;

  constructor(
    readonly events: EventStore,
    options: SubscriptionManagerOptions = {},
  ) {
    this.pollIntervalMs = options.pollIntervalMs ?? 1000;
    this.batchSize = options.batchSize ?? 100;
    this.onError = options.onError;
  }

  /**
   * Registers `handler` under `id`, resuming from the saved checkpoint when there is one. Delivery
   * starts with `start()` (or `pollOnce()`).
   */
  async subscribe(id: string, handler: DurableHandler, options: DurableSubscriptionOptions = {}): Promise<void> {
    const { startFrom = 'beginning', maxErrors = 10, ...filter } = options;
    let position = await this.events.loadCheckpoint(id);
    if (position === 0 && startFrom !== 'beginning') {
      position = startFrom === 'latest' ? await this.headPosition(0) : startFrom;
      if (position > 0) await this.events.saveCheckpoint(id, position);
    }
    this.subscriptions.set(id, { id, handler, filter, position, enabled: true, errorCount: 0, lastError: null, maxErrors, busy: null });
  }

  /** Stops delivering to `id` in this process (its checkpoint stays stored). */
  unsubscribe(id: string): boolean {
    return this.subscriptions.delete(id);
  }

  /** Re-enables a subscription disabled by failures. */
  enable(id: string): boolean {
    const sub = this.subscriptions.get(id);
    if (sub) {
      sub.enabled = true;
      sub.errorCount = 0;
    }
    return sub !== undefined;
  }

  disable(id: string): boolean {
    const sub = this.subscriptions.get(id);
    if (sub) sub.enabled = false;
    return sub !== undefined;
  }

  /** One batch for every enabled subscription. Returns how many events were handled. */
  async pollOnce(): Promise<number> {
    let handled = 0;
    for (const sub of [...this.subscriptions.values()]) if (sub.enabled) handled += await this.poll(sub);
    return handled;
  }

  /** Polls until every enabled subscription is caught up (or failed). Returns how many events were handled. */
  async drain(): Promise<number> {
    let total = 0;
    for (;;) {
      const handled = await this.pollOnce();
      total += handled;
      if (handled === 0) return total;
    }
  }

  /** Polls in the background until `stop()`. */
  start(): void {
    if (this.loop) return;
    const controller = new AbortController();
    this.stopController = controller;
    this.loop = (async () => {
      while (!controller.signal.aborted) {
        let handled = 0;
        try {
          handled = await this.pollOnce();
        } catch {
          // a store error: try again after the interval
        }
        if (handled === 0 && !controller.signal.aborted) await sleep(this.pollIntervalMs, controller.signal);
      }
    })();
  }

  async stop(): Promise<void> {
    this.stopController?.abort();
    await this.loop;
    this.loop = null;
    this.stopController = null;
  }

  async status(id: string): Promise<SubscriptionStatus | null> {
    const sub = this.subscriptions.get(id);
    if (!sub) return null;
    const pending = await this.events.readAll({ afterPosition: sub.position, limit: 10_000, ...this.storeFilter(sub.filter) });
    return { id, enabled: sub.enabled, position: sub.position, lag: pending.filter((e) => matchesFilter(e, sub.filter)).length, errorCount: sub.errorCount, lastError: sub.lastError };
  }

  async statusAll(): Promise<SubscriptionStatus[]> {
    const all = await Promise.all([...this.subscriptions.keys()].map((id) => this.status(id)));
    return all.filter((s): s is SubscriptionStatus => s !== null);
  }

  private poll(sub: Subscription): Promise<number> {
    // One batch at a time per subscription (the background loop and pollOnce may meet).
    const run = (sub.busy ?? Promise.resolve(0)).then(() => this.pollBatch(sub));
    const tracked = run.finally(() => {
      if (sub.busy === tracked) sub.busy = null;
    });
    sub.busy = tracked;
    return tracked;
  }

  private async pollBatch(sub: Subscription): Promise<number> {
    if (!sub.enabled || this.subscriptions.get(sub.id) !== sub) return 0;
    const batch = await this.events.readAll({ afterPosition: sub.position, limit: this.batchSize, ...this.storeFilter(sub.filter) });
    const start = sub.position;
    let handled = 0;
    for (const event of batch) {
      if (matchesFilter(event, sub.filter)) {
        try {
          await sub.handler(event);
        } catch (error) {
          sub.errorCount += 1;
          sub.lastError = error instanceof Error ? error.message : String(error);
          if (sub.errorCount >= sub.maxErrors) sub.enabled = false;
          try {
            this.onError?.(sub.id, event, error);
          } catch {
            // ignored: reporting must not break delivery
          }
          break;
        }
        handled += 1;
        sub.errorCount = 0;
        sub.lastError = null;
      }
      sub.position = event.position;
    }
    if (sub.position !== start) await this.events.saveCheckpoint(sub.id, sub.position);
    return handled;
  }

  /** The filters the store can apply itself (the rest is applied here). */
  private storeFilter(filter: EventFilter): { eventTypes?: readonly string[]; workflowId?: string } {
    return { ...(filter.eventTypes ? { eventTypes: filter.eventTypes } : {}), ...(filter.workflowId !== undefined ? { workflowId: filter.workflowId } : {}) };
  }

  private async headPosition(from: number): Promise<number> {
    let position = from;
    for (;;) {
      const page = await this.events.readAll({ afterPosition: position, limit: 10_000 });
      if (page.length === 0) return position;
      position = page[page.length - 1]!.position;
    }
  }
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });
}
