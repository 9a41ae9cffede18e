// The primary's watch over its processes' event loops. A process answers its primary's
// ping from its event loop, so a process stuck there (an endless loop, a regular
// expression that backtracks for ever: a bug) stops answering, while its connections stay
// open, its calls hang and its last readiness report still says ready. One that has not
// answered for SLOW_AFTER_MS is handed no new connection until it answers again; one
// silent for HUNG_AFTER_MS is ended (SIGKILL: its JavaScript would run no handler) and,
// as any process that dies, replaced. Silence is measured on the monotonic clock: on
// the wall clock, a step back (an NTP correction) hid a hung process for the size of
// the step.

/** How often the primary asks each process. */
export const PING_INTERVAL_MS = 1_000;
/** Silent this long: no new connection goes to the process until it answers. */
export const SLOW_AFTER_MS = 3_000;
/** Silent this long: the process is ended. */
export const HUNG_AFTER_MS = 10_000;

/** What the primary does with a process the watchdog judges. */
export interface Watched {
  ping(): void;
  slow(silentMs: number): void;
  answeredAgain(): void;
  hung(silentMs: number): void;
}

interface Entry {
  process: Watched;
  answeredAt: number;
  slow: boolean;
}

export class Watchdog<K> {
  private readonly watched = new Map<K, Entry>();
  private timer: NodeJS.Timeout | undefined;
  private tickedAt = 0;

  constructor(private readonly now: () => number = () => performance.now()) {}

  /** Watches a process from now on (once it serves). */
  watch(key: K, process: Watched): void {
    this.watched.set(key, { process, answeredAt: this.now(), slow: false });
    if (this.timer) return;
    this.tickedAt = this.now();
    this.timer = setInterval(() => this.tick(), PING_INTERVAL_MS);
    this.timer.unref();
  }

  /** The process answered a ping. */
  answered(key: K): void {
    const entry = this.watched.get(key);
    if (!entry) return;
    entry.answeredAt = this.now();
    if (!entry.slow) return;
    entry.slow = false;
    entry.process.answeredAgain();
  }

  /** The process is gone. */
  forget(key: K): void {
    this.watched.delete(key);
    if (this.watched.size > 0 || !this.timer) return;
    clearInterval(this.timer);
    this.timer = undefined;
  }

  private tick(): void {
    const now = this.now();
    // The primary itself did not run meanwhile (the machine paused it): it cannot tell whether the processes answered, and starts counting again.
    if (now - this.tickedAt > PING_INTERVAL_MS + SLOW_AFTER_MS) for (const entry of this.watched.values()) entry.answeredAt = now;
    this.tickedAt = now;
    for (const [key, entry] of this.watched) {
      const silent = now - entry.answeredAt;
      if (silent >= HUNG_AFTER_MS) {
        this.forget(key);
        entry.process.hung(silent);
        continue;
      }
      if (silent >= SLOW_AFTER_MS && !entry.slow) {
        entry.slow = true;
        entry.process.slow(silent);
      }
      entry.process.ping();
    }
  }
}
