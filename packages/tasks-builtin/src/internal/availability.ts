import { runProcess } from './process.js';

/**
 * Remembers for a while whether an executable answered its probe (`docker version`, `ssh -V`), so
 * a pipeline of many stages does not pay for the probe each time.
 */
export class AvailabilityProbe {
  private last: { ok: boolean; at: number } | null = null;

  constructor(
    private readonly file: () => string,
    private readonly args: readonly string[],
    private readonly timeoutMs: number,
    private readonly ttlMs: number,
  ) {}

  async check(signal?: AbortSignal): Promise<boolean> {
    const now = Date.now();
    if (this.last && now - this.last.at < this.ttlMs) return this.last.ok;
    const run = await runProcess({ file: this.file(), args: this.args, timeoutMs: this.timeoutMs, signal, maxOutputBytes: 64 * 1024, killGraceMs: 1000 });
    const ok = !run.spawnError && !run.timedOut && !run.aborted && run.exitCode === 0;
    this.last = { ok, at: now };
    return ok;
  }
}
