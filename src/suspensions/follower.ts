// Keeps this process's view of the suspensions current: loads the whole set at
// start (Verdict is not ready before), then reloads it on every change. Where the
// server has change streams (a replica set) a change arrives at once, and the
// version is read every second as a heartbeat and a safety net; elsewhere (a
// standalone server, mongo-java-server) the version document is read every
// poll_interval_ms and the set reloaded when it moved. The view is stale when no
// refresh has succeeded for stale_after_ms.
import type { Logger } from "../observability/index.js";
import type { SuspensionsConfig } from "./config.js";
import { NoChangeStreamsError, type SuspensionStore } from "./store.js";
import type { SuspensionView } from "./view.js";

export type FollowingBy = "starting" | "change_stream" | "poll";

export interface FollowerStats {
  /** Suspensions the view holds. */
  active: number;
  /** Seconds since the last successful refresh (0 before the first). */
  ageSeconds: number;
  stale: boolean;
  /** Refreshes that succeeded (a version read, or a reload), and that failed. */
  refreshes: number;
  failures: number;
  /** Times the view became stale. */
  stalePeriods: number;
  by: FollowingBy;
}

/** How long a change stream that failed is left before it is tried again (the poll covers meanwhile). */
const STREAM_RETRY_MS = 30_000;
/**
 * How often the view's staleness is looked at, on a timer of its own: a read of the version
 * waiting on a database that does not answer (up to its 2 s bound) must not hold back the
 * log and the count of the view going stale, which deny_all already enforces from then.
 */
const STALENESS_CHECK_MS = 250;

export class SuspensionFollower {
  private version: number | undefined;
  private lastSuccess: number | undefined;
  private by: FollowingBy = "starting";
  private timer: NodeJS.Timeout | undefined;
  private streamRetry: NodeJS.Timeout | undefined;
  private stalenessCheck: NodeJS.Timeout | undefined;
  private stream: { close(): Promise<void> } | undefined;
  private reloading: Promise<void> | undefined;
  private reloadAgain = false;
  private stopped = false;
  private staleSince: number | undefined;
  private failingLogged = false;
  /** Starts waiting for the first load: told true by it, false by their time or by stop. */
  private readonly waiting = new Set<(loaded: boolean) => void>();
  private readonly counts = { refreshes: 0, failures: 0, stalePeriods: 0 };

  constructor(
    private readonly store: SuspensionStore,
    private readonly view: SuspensionView,
    private readonly settings: SuspensionsConfig,
    private readonly log: Logger,
    /** The wall clock: which suspensions are active now. */
    private readonly now: () => number = Date.now,
    /** The monotonic clock the view's age is measured on: on the wall clock, a step back (an NTP correction) had hidden a stale view for the size of the step. */
    private readonly elapsed: () => number = () => performance.now(),
  ) {}

  /** Whether the set was loaded once: until then nothing can be decided (fail closed), and Verdict is not ready. */
  get loaded(): boolean {
    return this.version !== undefined;
  }

  /** Whether a refresh succeeded within the last stale_after_ms. */
  fresh(): boolean {
    return this.lastSuccess !== undefined && this.elapsed() - this.lastSuccess <= this.settings.stale_after_ms;
  }

  stats(): FollowerStats {
    // What a scrape reads agrees with itself: the view going stale is counted when it is reported so.
    this.watchStaleness();
    return {
      active: this.view.size,
      ageSeconds: this.lastSuccess === undefined ? 0 : Math.max(0, this.elapsed() - this.lastSuccess) / 1_000,
      stale: this.loaded && !this.fresh(),
      ...this.counts,
      by: this.by,
    };
  }

  /** Starts following; resolves true once the set is loaded, or false after `waitMs` (it keeps trying). */
  async start(waitMs: number): Promise<boolean> {
    void this.tick();
    this.stalenessCheck = setInterval(() => this.watchStaleness(), STALENESS_CHECK_MS);
    this.stalenessCheck.unref();
    if (this.settings.follow !== "poll") void this.openStream();
    else this.by = "poll";
    if (this.loaded) return true;
    // Settled by the load, by waitMs, or by stop (a start that failed elsewhere must not keep the process for waitMs).
    return new Promise<boolean>((resolve) => {
      const settle = (loaded: boolean) => {
        clearTimeout(timer);
        this.waiting.delete(settle);
        resolve(loaded);
      };
      const timer = setTimeout(() => settle(false), waitMs);
      this.waiting.add(settle);
    });
  }

  async stop(): Promise<void> {
    this.stopped = true;
    for (const settle of [...this.waiting]) settle(false);
    clearTimeout(this.timer);
    clearTimeout(this.streamRetry);
    clearInterval(this.stalenessCheck);
    await this.stream?.close();
    await this.reloading;
  }

  /** Reloads now (a change this process made itself is in its own view at once). */
  refreshNow(): Promise<void> {
    return this.reload();
  }

  /** Reads the version; reloads the set when it moved (or was never loaded); then schedules the next read. */
  private async tick(): Promise<void> {
    if (this.stopped) return;
    try {
      const version = await this.store.version();
      if (version !== this.version) await this.reload();
      else this.succeeded();
    } catch (error) {
      this.failed(error);
    }
    this.watchStaleness();
    if (this.stopped) return;
    const interval =
      this.by === "change_stream"
        ? Math.max(this.settings.poll_interval_ms, Math.min(1_000, this.settings.stale_after_ms / 4))
        : this.settings.poll_interval_ms;
    this.timer = setTimeout(() => void this.tick(), interval);
    this.timer.unref();
  }

  /** One reload at a time; a change during a reload makes it run once more. */
  private reload(): Promise<void> {
    if (this.reloading) {
      this.reloadAgain = true;
      return this.reloading;
    }
    this.reloading = (async () => {
      do {
        this.reloadAgain = false;
        try {
          // The version first: a change after this read bumps it again, so it is never missed.
          const version = await this.store.version();
          const records = await this.store.active(new Date(this.now()));
          this.view.replace(records);
          const first = this.version === undefined;
          this.version = version;
          this.succeeded();
          if (first) {
            this.log.info({ suspensions: records.length, by: this.by }, "suspensions loaded");
            for (const settle of [...this.waiting]) settle(true);
          }
        } catch (error) {
          this.failed(error);
        }
      } while (this.reloadAgain && !this.stopped);
    })().finally(() => {
      this.reloading = undefined;
    });
    return this.reloading;
  }

  private succeeded(): void {
    this.lastSuccess = this.elapsed();
    this.counts.refreshes += 1;
    if (this.failingLogged) this.log.info("suspensions are read again");
    this.failingLogged = false;
  }

  private failed(error: unknown): void {
    this.counts.failures += 1;
    // A read that fails because this process is stopping (its connection closed) says nothing.
    if (this.failingLogged || this.stopped) return;
    this.failingLogged = true;
    const message = (error as Error).message;
    if (this.loaded) this.log.warn({ err: message }, "cannot read suspensions; the view keeps what it holds");
    else this.log.warn({ err: message }, "suspensions not loaded yet (the database does not answer); not ready, retrying");
  }

  /** Logs (once each way) and counts the view going stale and coming back. */
  private watchStaleness(): void {
    if (!this.loaded || this.stopped) return;
    const now = this.elapsed();
    if (!this.fresh()) {
      if (this.staleSince !== undefined) return;
      this.staleSince = now;
      this.counts.stalePeriods += 1;
      const enforcing =
        this.settings.when_stale === "deny_all" ? "denying every Check (state_unavailable) until it is fresh" : "enforcing the suspensions it holds";
      this.log.error(
        { ageMs: this.lastSuccess === undefined ? undefined : now - this.lastSuccess, suspensions: this.view.size, whenStale: this.settings.when_stale },
        `the suspension view is stale: no refresh for more than ${this.settings.stale_after_ms} ms; ${enforcing}`,
      );
    } else if (this.staleSince !== undefined) {
      this.log.info({ staleForMs: now - this.staleSince }, "the suspension view is fresh again");
      this.staleSince = undefined;
    }
  }

  /** Follows changes through a change stream where the server has them; falls back to the poll where it does not. */
  private async openStream(): Promise<void> {
    if (this.stopped) return;
    try {
      this.stream = await this.store.watch(
        () => void this.reload(),
        (error) => {
          this.log.warn({ err: error.message }, "the suspensions change stream failed; following by polling the version until it reopens");
          this.stream = undefined;
          this.by = "poll";
          this.retryStream();
        },
      );
      if (this.stopped) {
        await this.stream.close();
        return;
      }
      if (this.by !== "change_stream") this.log.info("following suspensions with a change stream");
      this.by = "change_stream";
      void this.reload(); // what changed while the stream opened
    } catch (error) {
      const message = (error as Error).message;
      if (!(error instanceof NoChangeStreamsError)) {
        // Not answered (the database is down): try again later, polling meanwhile.
        this.retryStream();
      } else if (this.settings.follow === "change_stream") {
        this.log.error({ err: message }, "suspensions.follow is change_stream but the server has none; following by polling the version");
        this.retryStream();
      } else if (this.by !== "poll") {
        this.log.info(
          { pollIntervalMs: this.settings.poll_interval_ms, err: message },
          "the database has no change streams; following suspensions by polling their version",
        );
      }
      this.by = "poll";
    }
  }

  private retryStream(): void {
    if (this.stopped) return;
    this.streamRetry = setTimeout(() => void this.openStream(), STREAM_RETRY_MS);
    this.streamRetry.unref();
  }
}
