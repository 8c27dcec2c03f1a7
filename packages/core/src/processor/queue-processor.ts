import { type Clock, ManualClock, systemClock } from '../clock.js';
import { StageDefinitionBuilderFactory } from '../builders/stage-definition-builder.js';
import { ConcurrencyError, ConfigurationError, CorruptDataError, errorMessage, LeaseLostError, TransientError } from '../errors.js';
import { type EventRecorder, noopEventRecorder } from '../events/recorder.js';
import { DEFAULT_HANDLER_CONFIG, type HandlerConfig } from '../handlers/config.js';
import { type HandlerDeps, type Logger, RunningTasks, silentLogger } from '../handlers/deps.js';
import { defaultHandlers, type Handler, type HandlerMap } from '../handlers/index.js';
import type { Message, MessageType } from '../messages/messages.js';
import { corruptMessageError, quarantineCorrupt } from './corrupt.js';
import type { Delivery, Queue, WorkflowStore } from '../store/interfaces.js';
import type { Transaction } from '../store/transaction.js';
import { TaskRegistry } from '../task/registry.js';
import { type RecoveryResult, WorkflowRecovery } from '../recovery.js';

export interface QueueProcessorOptions {
  store: WorkflowStore;
  taskRegistry?: TaskRegistry;
  builders?: StageDefinitionBuilderFactory;
  clock?: Clock;
  handlerConfig?: Partial<HandlerConfig>;
  recorder?: EventRecorder;
  logger?: Logger;
  /** Handlers (other than RunTask) in flight at once. Default 10. */
  maxWorkers?: number;
  /** Task bodies executing at once. Default 10. */
  maxConcurrentTasks?: number;
  /** How long a claimed message stays exclusive without a heartbeat. Default 60 s. */
  leaseMs?: number;
  /** Delay before a message whose handler threw is delivered again. Default 15 s (upstream). */
  retryDelayMs?: number;
  /** Longest sleep of an idle worker between checks when no wake-up arrives. Default 1 s. */
  idlePollMs?: number;
  /** Run one recovery sweep when `start()` is called. Default false. */
  recoverOnStart?: boolean;
  /** Run a recovery sweep every this many ms while started. Default 0 (off). */
  recoveryIntervalMs?: number;
  /** Restrict recovery to one application. */
  recoveryApplication?: string;
  recoveryMaxAgeMs?: number;
}

export interface StopOptions {
  /**
   * Longest wait for in-flight messages, in ms. When it passes, the messages still in flight are
   * handed back to the queue (deliverable at once to any worker) and `stop()` returns; their
   * handlers' late commits are refused (`LeaseLostError`), so the work is redone exactly once
   * elsewhere. A task body still running then gets its AbortSignal (at-least-once, like a crash).
   * Default: no limit (wait for every in-flight message).
   */
  timeoutMs?: number;
}

export interface StopResult {
  /** In-flight messages that finished during the stop. */
  finished: number;
  /** Messages handed back to the queue: claimed but not started, or still running at `timeoutMs`. */
  handedBack: number;
  /** Whether `timeoutMs` passed before the in-flight messages finished. */
  timedOut: boolean;
}

export interface ShutdownHandlerOptions {
  /** Signals that start a graceful stop. Default SIGTERM and SIGINT. */
  signals?: NodeJS.Signals[];
  /** Bound of the graceful stop (see `StopOptions.timeoutMs`). Default 30 s. */
  timeoutMs?: number;
  /** Called after the processor stopped (close stores and queues here). */
  onStopped?: (result: StopResult) => void | Promise<void>;
  /** Exit the process (code 0) after `onStopped`. Default true. A second signal exits with 1 at once. */
  exit?: boolean;
}

/** First and longest wait of the worker loop while the queue or store keeps failing. */
const OUTAGE_MIN_BACKOFF_MS = 100;
const OUTAGE_MAX_BACKOFF_MS = 5_000;
/** While busy, a running worker still polls this often (see `pollNeeded`). */
const FAIRNESS_POLL_MS = 50;

const sleepUnlessAborted = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve) => {
    if (signal?.aborted) return resolve();
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener('abort', done, { once: true });
  });

export interface ProcessAllOptions {
  /** Wall-clock budget; the drain stops (without error) when it runs out. Default 60 s. */
  timeoutMs?: number;
}

/**
 * Claims messages from the queue and runs their handlers: concurrently across messages, bounded by
 * `maxWorkers` for handlers and `maxConcurrentTasks` for task bodies. `processAll` drains for
 * scripts and tests; `start` / `stop` run a long-lived worker.
 */
export class QueueProcessor {
  readonly deps: HandlerDeps;
  /** The store without the tracking wrapper (for marking a workflow whose rows are corrupt). */
  private readonly backingStore: WorkflowStore;
  private readonly handlers: HandlerMap = defaultHandlers();
  private readonly maxWorkers: number;
  private readonly maxConcurrentTasks: number;
  private readonly leaseMs: number;
  private readonly retryDelayMs: number;
  private readonly idlePollMs: number;
  private readonly consumed = new Set<string>();
  private readonly inFlight = new Map<string, Promise<void>>();
  /** The delivery of each in-flight message (to hand it back when a bounded stop runs out). */
  private readonly inFlightDeliveries = new Map<string, Delivery>();
  /** Deliveries handed back by a bounded stop while their handler still ran. */
  private readonly abandoned = new Set<string>();
  private handlerCount = 0;
  private taskCount = 0;
  private running = false;
  private draining = false;
  private loop: Promise<void> | null = null;
  private stopController: AbortController | null = null;
  private firstError: unknown = null;
  /** Deliveries this worker already holds (claimed by its own commits), handled before polling. */
  private readonly local: Delivery[] = [];
  private stopping = false;
  private stepping = false;
  private localWaiters: Array<() => void> = [];

  /** The queue's next wake-up (a signal or `maxWaitMs`); afterwards the worker polls. One wait at a time. */
  private queueWake(signal: AbortSignal, maxWaitMs = FAIRNESS_POLL_MS): Promise<void> {
    const settle = () => {
      this.pollNeeded = true;
      this.wake = null;
    };
    this.wake ??= this.queue.waitForMessages(maxWaitMs, signal).then(settle, settle);
    return this.wake;
  }

  /** Resolves when this worker's own commits hand it new deliveries (the fast path). */
  private localWork(): Promise<void> {
    if (this.local.length > 0) return Promise.resolve();
    return new Promise((resolve) => this.localWaiters.push(resolve));
  }

  private wakeLocal(): void {
    const waiters = this.localWaiters;
    this.localWaiters = [];
    for (const wake of waiters) wake();
  }
  private lastPoll = 0;
  /**
   * A running worker polls only when something may be waiting for it: at start, after the queue
   * signalled new messages (LISTEN/NOTIFY, an in-process push, a foreign SQLite commit), after a
   * full batch, and every FAIRNESS_POLL_MS while busy (delayed messages, expired leases). Its own
   * follow-up messages reach it through the fast path, so a busy chain costs no polls.
   */
  private pollNeeded = true;
  /** The pending queue wake-up a busy worker races its handlers against (one at a time). */
  private wake: Promise<void> | null = null;
  /** A handler failed with a TransientError (store or queue down) and none succeeded since. */
  private storeFailing = false;
  /** A poll succeeded since the worker loop's last failure. */
  private polledSinceFailure = false;
  private processed = 0;
  private readonly recovery: WorkflowRecovery;
  private readonly recoverOnStart: boolean;
  private readonly recoveryIntervalMs: number;
  private readonly recoveryApplication: string | undefined;
  private recoveryTimer: NodeJS.Timeout | null = null;
  /** Recovery sweeps run since this processor was created. */
  recoverySweeps = 0;

  constructor(
    readonly queue: Queue,
    options: QueueProcessorOptions,
  ) {
    if (!options?.store) throw new ConfigurationError('QueueProcessor needs a store');
    const store = options.store;
    this.backingStore = store;
    const consumed = this.consumed;
    const recorder = options.recorder ?? noopEventRecorder;
    // Handlers see the store through this wrapper, which lets the event recorder see each
    // transaction and notes the deliveries their commits consumed.
    const trackingStore: WorkflowStore = Object.create(store, {
      commit: {
        value: async (tx: Transaction) => {
          if (recorder.beforeCommit) await recorder.beforeCommit(tx, store);
          // Fast path: keep a few of the messages this commit pushes, already leased to this worker.
          // Only for message-driven commits of a running worker or drain, not single steps.
          const free = this.localCapacity();
          if (free > 0 && tx.consumed && !this.stopping && !this.stepping) tx.claimPushed = { leaseMs: this.leaseMs, limit: free };
          tx.groupable = !this.stepping;
          await store.commit(tx);
          if (tx.consumed) consumed.add(tx.consumed.deliveryId);
          if (tx.claimed.length > 0) {
            this.local.push(...tx.claimed);
            this.wakeLocal();
          }
          recorder.afterCommit?.(tx);
        },
      },
    });
    this.deps = {
      store: trackingStore,
      registry: options.taskRegistry ?? new TaskRegistry(),
      builders: options.builders ?? new StageDefinitionBuilderFactory(),
      clock: options.clock ?? systemClock,
      config: { ...DEFAULT_HANDLER_CONFIG, ...options.handlerConfig },
      recorder,
      logger: options.logger ?? silentLogger,
      runningTasks: new RunningTasks(),
    };
    this.maxWorkers = options.maxWorkers ?? 10;
    this.maxConcurrentTasks = options.maxConcurrentTasks ?? 10;
    this.leaseMs = options.leaseMs ?? 60_000;
    this.retryDelayMs = options.retryDelayMs ?? options.handlerConfig?.retryDelayMs ?? 15_000;
    this.idlePollMs = options.idlePollMs ?? 1000;
    this.recovery = new WorkflowRecovery(store, queue, { clock: this.deps.clock, ...(options.recoveryMaxAgeMs ? { maxRecoveryAgeMs: options.recoveryMaxAgeMs } : {}) });
    this.recoverOnStart = options.recoverOnStart ?? false;
    this.recoveryIntervalMs = options.recoveryIntervalMs ?? 0;
    this.recoveryApplication = options.recoveryApplication;
  }

  /** One recovery sweep (engine.md §10.2); never throws, returns [] on error. */
  async runRecovery(): Promise<RecoveryResult[]> {
    this.recoverySweeps++;
    try {
      return await this.recovery.recoverPendingWorkflows(this.recoveryApplication);
    } catch (error) {
      this.deps.logger.error('Recovery sweep failed', { error: errorMessage(error) });
      return [];
    }
  }

  /** Whether a background recovery sweeper is scheduled. */
  get hasRecoverySweeper(): boolean {
    return this.recoveryTimer !== null;
  }

  /** Replaces (or adds) the handler of one message type. */
  registerHandler<T extends MessageType>(type: T, handler: Handler<Extract<Message, { type: T }>> | undefined): void {
    (this.handlers as Record<string, unknown>)[type] = handler;
  }

  get isRunning(): boolean {
    return this.running;
  }

  /** Messages handled since this processor was created. */
  get processedCount(): number {
    return this.processed;
  }

  /**
   * Handles messages until the queue is empty or `timeoutMs` passes. With a ManualClock, delayed
   * messages are reached by moving the clock forward instead of waiting. Rethrows the first handler
   * error (after the message was rescheduled), like the upstream drain.
   */
  async processAll(options: ProcessAllOptions = {}): Promise<number> {
    if (this.draining || this.running) return 0;
    this.draining = true;
    this.firstError = null;
    const deadline = performance.now() + (options.timeoutMs ?? 60_000);
    const before = this.processed;
    try {
      while (performance.now() < deadline) {
        const claimed = await this.fill();
        if (this.firstError) break;
        if (claimed > 0) continue;
        if (this.inFlight.size > 0) {
          // At capacity, only a finishing handler can make progress; waiting on anything that is
          // already resolved here would spin and starve the handlers' own timers.
          if (this.atCapacity() || this.local.length > 0) await Promise.race(this.inFlight.values());
          else await Promise.race([...this.inFlight.values(), this.localWork(), this.queue.waitForMessages(this.idlePollMs)]);
          continue;
        }
        if (this.local.length > 0) continue;
        if ((await this.queue.size()) === 0) break;
        const next = await this.queue.nextDeliveryTime();
        const now = this.deps.clock.now();
        if (next !== null && next > now) {
          if (this.deps.clock instanceof ManualClock) this.deps.clock.set(next);
          else await this.queue.waitForMessages(Math.min(next - now, deadline - performance.now(), this.idlePollMs));
        } else if (next === null) {
          break;
        } else {
          // Deliverable but not claimable right now (leased by another worker): wait for a change.
          await this.queue.waitForMessages(Math.min(this.idlePollMs, 50));
        }
      }
      await Promise.allSettled([...this.inFlight.values()]);
      await this.deps.store.flush?.(); // everything handled is durable when the drain returns
    } finally {
      this.draining = false;
    }
    if (this.firstError) {
      const error = this.firstError;
      this.firstError = null;
      throw error;
    }
    return this.processed - before;
  }

  /** Claims and handles one message; false when none was deliverable. Rethrows a handler error. */
  async processOne(): Promise<boolean> {
    const [delivery] = this.local.length > 0 ? this.local.splice(0, 1) : await this.queue.poll({ limit: 1, leaseMs: this.leaseMs });
    if (!delivery) return false;
    this.firstError = null;
    this.stepping = true; // one message at a time, in queue order: no local claims
    try {
      await this.handle(delivery);
    } finally {
      this.stepping = false;
    }
    if (this.firstError) {
      const error = this.firstError;
      this.firstError = null;
      throw error;
    }
    return true;
  }

  /** Runs as a long-lived worker until `stop()`. Idle, it sleeps until the queue signals new work. */
  start(): void {
    if (this.running) return;
    this.running = true;
    this.stopping = false;
    this.stopController = new AbortController();
    const signal = this.stopController.signal;
    if (this.recoveryIntervalMs > 0) {
      this.recoveryTimer = setInterval(() => void this.runRecovery(), this.recoveryIntervalMs);
      this.recoveryTimer.unref?.();
    }
    const initialRecovery = this.recoverOnStart ? this.runRecovery() : Promise.resolve([]);
    this.loop = (async () => {
      await initialRecovery;
      // While the queue or store fails (e.g. the database is down), back off exponentially (with
      // jitter) and log once when the outage starts and once when it ends, not once per attempt.
      let failures = 0;
      let outageStartedAt = 0;
      const recovered = () => {
        if (failures === 0) return;
        this.deps.logger.info('Queue reachable again; worker resumed', { outageMs: Math.round(performance.now() - outageStartedAt), failedAttempts: failures });
        failures = 0;
      };
      while (!signal.aborted) {
        try {
          const claimed = await this.fill();
          if (this.polledSinceFailure) recovered();
          if (claimed > 0) continue;
          if (this.inFlight.size > 0) {
            // Busy: a finishing handler, our own commits (fast path) or a queue signal moves us on;
            // no database reads while we wait.
            const wake = this.queueWake(signal);
            if (this.atCapacity() || this.local.length > 0) await Promise.race([...this.inFlight.values(), wake]);
            else await Promise.race([...this.inFlight.values(), this.localWork(), wake]);
            continue;
          }
          const next = await this.queue.nextDeliveryTime();
          recovered();
          const now = this.deps.clock.now();
          const wait = next === null ? this.idlePollMs : Math.max(1, Math.min(next - now, this.idlePollMs));
          await Promise.race([this.localWork(), this.queueWake(signal, wait)]);
        } catch (error) {
          if (signal.aborted) break;
          failures++;
          this.polledSinceFailure = false;
          if (failures === 1) {
            outageStartedAt = performance.now();
            this.deps.logger.error('Queue unavailable; worker backing off and retrying', { error: errorMessage(error) });
          }
          const backoff = Math.min(OUTAGE_MAX_BACKOFF_MS, OUTAGE_MIN_BACKOFF_MS * 2 ** Math.min(failures - 1, 16));
          await sleepUnlessAborted(backoff * (0.8 + Math.random() * 0.4), signal);
        }
      }
    })();
  }

  /**
   * Stops claiming new messages and waits for the in-flight ones to finish (graceful shutdown);
   * claimed messages that did not start yet are handed back at once. With `timeoutMs`, messages
   * still in flight when it passes are handed back too (see `StopOptions`).
   */
  async stop(options: StopOptions = {}): Promise<StopResult> {
    const result: StopResult = { finished: 0, handedBack: 0, timedOut: false };
    if (!this.running) return result;
    this.stopping = true;
    this.stopController?.abort();
    if (this.recoveryTimer) clearInterval(this.recoveryTimer);
    this.recoveryTimer = null;
    const inFlightAtStop = new Set(this.inFlight.keys());
    const drained = (async () => {
      await this.loop;
      await Promise.allSettled([...this.inFlight.values()]);
    })();
    const timeoutMs = options.timeoutMs;
    if (timeoutMs === undefined || !Number.isFinite(timeoutMs)) {
      await drained;
    } else {
      let timer: NodeJS.Timeout | undefined;
      const expired = new Promise<boolean>((resolve) => {
        timer = setTimeout(() => resolve(true), Math.max(0, timeoutMs));
      });
      result.timedOut = await Promise.race([drained.then(() => false), expired]);
      clearTimeout(timer);
      if (result.timedOut) {
        // Hand back what is still running: the lease is dropped, so the handler's commit is refused
        // and any worker may take the message at once.
        for (const [id, delivery] of this.inFlightDeliveries) {
          this.abandoned.add(id);
          // A task body still running is told to stop (its AbortSignal): another worker redoes it.
          if (delivery.message.type === 'RunTask') this.deps.runningTasks.abort(delivery.message.taskId, 'Worker stopped; the task was handed back');
          if (await this.queue.reschedule(delivery, 0).catch(() => false)) result.handedBack++;
        }
        this.deps.logger.warn('Stop timed out; in-flight messages handed back', { timeoutMs, handedBack: result.handedBack });
      }
    }
    for (const id of inFlightAtStop) if (!this.abandoned.has(id)) result.finished++;
    // Hand back what this worker claimed but did not start, so others can take it at once.
    for (const delivery of this.local.splice(0)) {
      if (await this.queue.reschedule(delivery, 0).catch(() => false)) result.handedBack++;
    }
    await this.deps.store.flush?.();
    this.wakeLocal();
    this.running = false;
    this.loop = null;
    if (result.timedOut) {
      // Abandoned handlers may still commit (and be refused); keep the fast path off until they end.
      void Promise.allSettled([...this.inFlight.values()]).then(() => {
        if (!this.running) this.stopping = false;
      });
    } else {
      this.stopping = false;
    }
    return result;
  }

  /**
   * Stops this worker gracefully on SIGTERM / SIGINT: no new messages are claimed, in-flight ones
   * finish (or are handed back after `timeoutMs`, default 30 s), claimed-but-unstarted ones are
   * handed back, then `onStopped` runs and the process exits 0. A second signal exits at once
   * with code 1. Returns a function that removes the handlers.
   */
  installShutdownHandlers(options: ShutdownHandlerOptions = {}): () => void {
    const signals = options.signals ?? ['SIGTERM', 'SIGINT'];
    const timeoutMs = options.timeoutMs ?? 30_000;
    let stopping = false;
    const onSignal = (signal: NodeJS.Signals) => {
      if (stopping) {
        this.deps.logger.error('Second shutdown signal; exiting without waiting', { signal });
        process.exit(1);
      }
      stopping = true;
      this.deps.logger.info('Shutdown signal received; stopping worker', { signal, inFlight: this.inFlight.size, timeoutMs });
      void (async () => {
        let code = 0;
        try {
          const result = await this.stop({ timeoutMs });
          this.deps.logger.info('Worker stopped', { ...result });
          await options.onStopped?.(result);
        } catch (error) {
          code = 1;
          this.deps.logger.error('Graceful shutdown failed', { error: errorMessage(error) });
        }
        if (options.exit ?? true) process.exit(code);
      })();
    };
    for (const signal of signals) process.on(signal, onSignal);
    return () => {
      for (const signal of signals) process.off(signal, onSignal);
    };
  }

  /** How many more deliveries this worker may hold locally. */
  private localCapacity(): number {
    return Math.max(0, Math.min(4, this.maxWorkers - this.local.length));
  }

  private atCapacity(): boolean {
    return this.handlerCount >= this.maxWorkers || this.taskCount >= this.maxConcurrentTasks * 2;
  }

  /** Claims as many messages as there are free slots and starts their handlers. */
  private async fill(): Promise<number> {
    const free = Math.min(this.maxWorkers - this.handlerCount, this.maxConcurrentTasks * 2 - this.taskCount);
    if (free <= 0) return 0;
    const deliveries = this.local.splice(0, free);
    // Poll when the fast path has nothing, and every few milliseconds regardless, so other
    // workflows' messages are not starved by a long chain this worker keeps feeding itself.
    const now = performance.now();
    const shouldPoll = this.running
      ? deliveries.length < free && (this.pollNeeded || now - this.lastPoll > FAIRNESS_POLL_MS)
      : deliveries.length === 0 || (deliveries.length < free && now - this.lastPoll > 5);
    if (shouldPoll) {
      this.lastPoll = now;
      this.pollNeeded = false;
      try {
        const limit = free - deliveries.length;
        const polled = await this.queue.poll({ limit, leaseMs: this.leaseMs });
        if (polled.length === limit) this.pollNeeded = true; // more may be waiting
        deliveries.push(...polled);
        this.polledSinceFailure = true;
      } catch (error) {
        this.pollNeeded = true;
        // Keep the deliveries this worker already holds: they are handled once the queue is back.
        this.local.unshift(...deliveries);
        throw error;
      }
      // Commits that finished while we polled may have claimed messages for this worker.
      if (deliveries.length < free) deliveries.push(...this.local.splice(0, free - deliveries.length));
    }
    for (const delivery of deliveries) {
      const promise = this.handle(delivery).finally(() => {
        this.inFlight.delete(delivery.id);
        this.inFlightDeliveries.delete(delivery.id);
        this.abandoned.delete(delivery.id);
      });
      this.inFlight.set(delivery.id, promise);
      this.inFlightDeliveries.set(delivery.id, delivery);
    }
    return deliveries.length;
  }

  private async handle(delivery: Delivery): Promise<void> {
    const isTask = (delivery.message as Partial<Message> | null)?.type === 'RunTask';
    if (isTask) this.taskCount++;
    else this.handlerCount++;
    const heartbeat = setInterval(() => {
      this.queue.extendLease(delivery, this.leaseMs).catch(() => undefined);
    }, Math.max(50, this.leaseMs / 2));
    heartbeat.unref?.();
    try {
      const handler = this.handlers[(delivery.message as Partial<Message> | null)?.type as MessageType] as Handler | undefined;
      if (!handler) throw corruptMessageError(delivery) ?? new ConfigurationError(`No handler registered for ${delivery.message.type}`);
      await this.withTaskSlot(isTask, () => handler(this.deps, { message: delivery.message, delivery }));
      if (!this.consumed.delete(delivery.id)) await this.queue.ack(delivery);
      this.processed++;
      this.storeFailing = false;
    } catch (error) {
      this.consumed.delete(delivery.id);
      if (error instanceof LeaseLostError) return; // another worker owns the message now
      // Data no retry can fix: its workflow ends TERMINAL, the message goes to the dead letters.
      if (error instanceof CorruptDataError) return void (await quarantineCorrupt(this.deps, this.queue, this.backingStore, delivery, error));
      if (this.abandoned.has(delivery.id)) return; // handed back by a bounded stop
      const fields = { type: delivery.message.type, attempts: delivery.attempts, error: errorMessage(error) };
      if (error instanceof TransientError && !(error instanceof ConcurrencyError)) {
        // The store or queue is failing (e.g. the database is down): every in-flight handler fails
        // alike, so say it once per outage; the worker loop logs when the queue is back.
        if (this.storeFailing) this.deps.logger.debug('Handler failed; message rescheduled', fields);
        else this.deps.logger.warn('Handler failed (store unavailable); message rescheduled. Further failures of this outage are logged at debug level', fields);
        this.storeFailing = true;
      } else {
        this.deps.logger.warn('Handler failed; message rescheduled', fields);
      }
      const delay = error instanceof ConcurrencyError ? Math.min(this.retryDelayMs, 100) : this.retryDelayMs;
      await this.queue.reschedule(delivery, delay, `${(error as Error)?.name ?? 'Error'}: ${errorMessage(error)}`).catch(() => undefined);
      if (!(error instanceof ConcurrencyError)) this.firstError ??= error;
    } finally {
      clearInterval(heartbeat);
      if (isTask) this.taskCount--;
      else this.handlerCount--;
    }
  }

  private readonly taskWaiters: Array<() => void> = [];
  private tasksExecuting = 0;

  private async withTaskSlot<T>(isTask: boolean, body: () => Promise<T>): Promise<T> {
    if (!isTask) return body();
    while (this.tasksExecuting >= this.maxConcurrentTasks) await new Promise<void>((r) => this.taskWaiters.push(r));
    this.tasksExecuting++;
    try {
      return await body();
    } finally {
      this.tasksExecuting--;
      this.taskWaiters.shift()?.();
    }
  }
}
