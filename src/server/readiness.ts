// Whether this Verdict should be sent traffic: every named check passes and it is
// not shutting down. Read by GET /readyz and followed by gRPC health. Checks read
// flags the parts keep in memory: a probe never waits on a database or a policy.
// The report's shape is cluster/'s: a process sends it to its primary, which answers
// /readyz over all of them.
import type { ReadinessReport, ReadinessSource } from "../cluster/index.js";
export type { ReadinessReport, ReadinessSource };

/** How often the checks are looked at for a change gRPC health should follow. */
const WATCH_INTERVAL_MS = 250;

export class Readiness implements ReadinessSource {
  private readonly checks = new Map<string, () => boolean>();
  private readonly listeners = new Set<(ready: boolean) => void>();
  private timer: NodeJS.Timeout | undefined;
  private last: boolean | undefined;

  /** Adds (or replaces) a named check; Verdict is ready only while every check passes. */
  check(name: string, passes: () => boolean): this {
    this.checks.set(name, passes);
    this.refresh();
    return this;
  }

  report(): ReadinessReport {
    const checks: Record<string, boolean> = {};
    for (const [name, passes] of this.checks) {
      try {
        checks[name] = passes();
      } catch {
        checks[name] = false; // a check that fails to answer fails
      }
    }
    return { ready: Object.values(checks).every(Boolean), checks };
  }

  watch(listener: (ready: boolean) => void): () => void {
    this.listeners.add(listener);
    listener(this.report().ready);
    this.timer ??= setInterval(() => this.refresh(), WATCH_INTERVAL_MS).unref();
    return () => {
      this.listeners.delete(listener);
      if (this.listeners.size === 0) this.close();
    };
  }

  /** Tells the watchers now if readiness changed (parts call it when they know something changed). */
  refresh(): void {
    const ready = this.report().ready;
    if (ready === this.last) return;
    this.last = ready;
    for (const listener of this.listeners) listener(ready);
  }

  close(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }
}
