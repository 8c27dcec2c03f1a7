import pg from 'pg';

interface ChannelState {
  waiters: Set<() => void>;
  /** performance.now() of the last wake-up (notification, local push or reconnect). */
  lastWakeAt: number;
  /** LISTEN is in effect on the current connection. */
  active: boolean;
  /** LISTEN was in effect on some connection before (so a reconnect may have missed notifications). */
  everActive: boolean;
  /** Callers of `whenListening` waiting for `active`. */
  activation: Set<() => void>;
}

const MIN_BACKOFF_MS = 100;
const MAX_BACKOFF_MS = 5_000;

/**
 * One dedicated connection per pool that LISTENs on the queue channels and wakes idle workers when
 * a commit or push NOTIFYs. If the connection dies it reconnects with exponential backoff and, once
 * back, wakes every waiter (notifications may have been missed meanwhile). Waiters always have a
 * bounded wait, so polling remains the fallback while the connection is down. A channel's first
 * LISTEN wakes nobody: the caller checks the queue itself once LISTEN is in effect (`whenListening`).
 */
export class NotificationListener {
  private client: pg.Client | null = null;
  private connecting: Promise<void> | null = null;
  private readonly channels = new Map<string, ChannelState>();
  private readonly listening = new Set<string>();
  private backoffMs = MIN_BACKOFF_MS;
  private retryTimer: NodeJS.Timeout | null = null;
  private closed = false;
  /** Number of successful (re)connections, for tests and diagnostics. */
  connections = 0;

  constructor(private readonly config: pg.ClientConfig) {}

  get connected(): boolean {
    return this.client !== null && this.connecting === null;
  }

  private state(channel: string): ChannelState {
    let state = this.channels.get(channel);
    if (!state) {
      state = { waiters: new Set(), lastWakeAt: Number.NEGATIVE_INFINITY, active: false, everActive: false, activation: new Set() };
      this.channels.set(channel, state);
    }
    return state;
  }

  /** performance.now() of the latest wake-up of `channel` (-Infinity if none). */
  lastWake(channel: string): number {
    return this.channels.get(channel)?.lastWakeAt ?? Number.NEGATIVE_INFINITY;
  }

  /** Starts listening on `channel` (connecting if needed) without waiting. */
  listen(channel: string): void {
    this.state(channel);
    if (!this.closed) this.ensureListening(channel);
  }

  /** Whether LISTEN on `channel` is in effect right now. */
  isListening(channel: string): boolean {
    return this.channels.get(channel)?.active ?? false;
  }

  /** Starts listening and resolves true once LISTEN is in effect; false after `maxWaitMs` or an abort. */
  whenListening(channel: string, maxWaitMs: number, signal?: AbortSignal): Promise<boolean> {
    const state = this.state(channel);
    if (state.active) return Promise.resolve(true);
    if (!this.closed) this.ensureListening(channel);
    return new Promise((resolve) => {
      const finish = (ok: boolean) => {
        clearTimeout(timer);
        state.activation.delete(onActive);
        signal?.removeEventListener('abort', onAbort);
        resolve(ok);
      };
      const onActive = () => finish(true);
      const onAbort = () => finish(false);
      const timer = setTimeout(onAbort, Math.max(0, signal?.aborted ? 0 : maxWaitMs));
      state.activation.add(onActive);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  private activate(channel: string): void {
    const state = this.state(channel);
    state.active = true;
    // After a reconnect, notifications sent while we were away are lost: let every waiter look again.
    if (state.everActive) this.wake(channel);
    state.everActive = true;
    const waiting = [...state.activation];
    state.activation.clear();
    for (const w of waiting) w();
  }

  /**
   * Resolves on the next wake-up of `channel`, after `maxWaitMs`, or when `signal` aborts. Always
   * resolves from a timer or an event, never synchronously, so a caller looping on it cannot starve
   * the event loop.
   */
  wait(channel: string, maxWaitMs: number, signal?: AbortSignal): Promise<void> {
    const state = this.state(channel);
    if (!this.closed) this.ensureListening(channel);
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        state.waiters.delete(done);
        signal?.removeEventListener('abort', done);
        resolve();
      };
      const timer = setTimeout(done, Math.max(0, signal?.aborted ? 0 : maxWaitMs));
      state.waiters.add(done);
      signal?.addEventListener('abort', done, { once: true });
    });
  }

  /** Wakes the waiters of `channel` in this process (used right after a local commit or push). */
  wake(channel: string): void {
    const state = this.channels.get(channel);
    if (!state) return;
    state.lastWakeAt = performance.now();
    const waiters = [...state.waiters];
    state.waiters.clear();
    for (const w of waiters) w();
  }

  private wakeAll(): void {
    for (const channel of this.channels.keys()) this.wake(channel);
  }

  private deactivateAll(): void {
    for (const state of this.channels.values()) state.active = false;
  }

  private ensureListening(channel: string): void {
    if (this.listening.has(channel)) return;
    this.listening.add(channel);
    if (this.client && !this.connecting) {
      const client = this.client;
      client.query(`LISTEN "${channel}"`).then(
        () => {
          if (this.client === client) this.activate(channel);
        },
        () => this.handleDisconnect(client),
      );
      return;
    }
    this.connect();
  }

  private connect(): void {
    if (this.closed || this.connecting || this.client || this.retryTimer) return;
    const client = new pg.Client(this.config);
    client.on('notification', (msg) => this.wake(msg.channel));
    client.on('error', () => this.handleDisconnect(client));
    client.on('end', () => this.handleDisconnect(client));
    this.client = client;
    this.connecting = (async () => {
      try {
        await client.connect();
        for (const channel of this.listening) await client.query(`LISTEN "${channel}"`);
        if (this.client !== client) return;
        this.connecting = null;
        this.connections++;
        this.backoffMs = MIN_BACKOFF_MS;
        for (const channel of this.listening) this.activate(channel);
      } catch {
        this.handleDisconnect(client);
      }
    })();
  }

  private handleDisconnect(client: pg.Client): void {
    if (this.client !== client) return;
    this.client = null;
    this.connecting = null;
    this.deactivateAll();
    client.end().catch(() => undefined);
    if (this.closed) return;
    const delay = this.backoffMs;
    this.backoffMs = Math.min(this.backoffMs * 2, MAX_BACKOFF_MS);
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      this.connect();
    }, delay);
    this.retryTimer.unref?.();
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = null;
    const client = this.client;
    this.client = null;
    this.connecting = null;
    this.deactivateAll();
    this.wakeAll();
    if (client) await client.end().catch(() => undefined);
  }
}

/** The NOTIFY channel of a schema's queue (≤ 63 bytes, as PostgreSQL requires). */
export function queueChannel(schema: string): string {
  const name = `stabilize_queue_${schema}`;
  if (name.length <= 63) return name;
  let hash = 0;
  for (const ch of schema) hash = (Math.imul(hash, 31) + ch.charCodeAt(0)) | 0;
  return `stabilize_queue_${schema.slice(0, 36)}_${(hash >>> 0).toString(16)}`;
}
