// The database's clock, as this process reads it: windowed counters are bucketed,
// pruned and swept on it, so that every Verdict process sharing the database agrees
// on what is in a window whatever its own clock says (docs/state.md, "One clock").
// A process measures how far the database's clock is from its own (the server's
// `localTime` against the midpoint of the round trip) when it connects and then
// every MEASURE_INTERVAL_MS (every UNMEASURED_RETRY_MS until a first one works); it
// keeps the best measurement it has, checked against the monotonic clock: a step of the
// host's wall clock (NTP, a VM resumed) does not move the database's time with it. A
// measurement over a slow round trip (a busy database) does not replace a closer one
// it agrees with: its error is half its round trip, and counters bucketed on it would
// put a window's edge that much off the other processes'. One that disagrees beyond
// both errors (the database's clock moved, another primary) is taken at once.
// Windowed counters refuse to work unmeasured (measuredOffsetMs: fail closed).
import type { Db, Document } from "mongodb";
import { withDeadline } from "../deadline.js";
import type { Logger } from "../observability/index.js";

/** How often the offset is measured again (a clock drifts, or is stepped, meanwhile). */
export const MEASURE_INTERVAL_MS = 30_000;
/** Bound of one measurement (its samples together). */
export const MEASURE_DEADLINE_MS = 2_000;
/** Round trips per measurement: the shortest one's midpoint is the closest to when the server read its clock. */
const SAMPLES = 3;
/** A sample whose round trip took longer says too little (its error is half of it): not used. */
const MAX_ROUND_TRIP_MS = 1_000;
/** Past this, the log warns (once each way): the hosts' clocks should be fixed, whatever Verdict makes of it. */
export const FAR_OFFSET_MS = 1_000;
/**
 * How fast the offset may drift after it was measured (100 ppm, far above an NTP-disciplined host's): a kept
 * measurement's error grows by this much per ms, so a worse one replaces it once the kept one is that uncertain.
 */
export const DRIFT_PER_MS = 100e-6;
/** A wall clock that moved this much apart from the monotonic one since a measurement was stepped: taken out at once. */
const WALL_STEP_MS = 100;
/** A round trip still unanswered this many deadlines after it was sent is abandoned (its connection closed). */
const ABANDON_FACTOR = 5;
/** How soon a measurement is tried again while none has worked yet (windowed counters wait for one). */
export const UNMEASURED_RETRY_MS = 1_000;

/** MongoDB's CommandNotFound: a server older than `hello` (mongo-java-server) answers `isMaster` instead. */
const COMMAND_NOT_FOUND = 59;

export interface ClockOptions {
  log: Logger;
  /** This process's clock (default Date.now): what the offset is measured from and added to. */
  now?: () => number;
  /** A monotonic clock in ms (default performance.now()): the database's time runs on it from the last measurement. */
  elapsed?: () => number;
  intervalMs?: number;
  deadlineMs?: number;
}

export interface ClockMeasurement {
  /** The database's clock minus this process's, in ms. */
  offsetMs: number;
  /** The round trip it was measured over (its error is at most half of it). */
  roundTripMs: number;
}

export class DatabaseClock {
  private last: ClockMeasurement | undefined;
  /** The offset in force (whole ms), its error when taken (ms), and this process's wall and monotonic clocks then. */
  private anchor: { offsetMs: number; errorMs: number; local: number; at: number } | undefined;
  private retry: NodeJS.Timeout | undefined;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<boolean> | undefined;
  private command: "hello" | "isMaster" = "hello";
  private far = false;
  private saidUnmeasured = false;
  private failing = false;
  private stopped = false;
  private readonly localNow: () => number;
  private readonly elapsed: () => number;
  private readonly intervalMs: number;
  private readonly deadlineMs: number;
  private readonly log: Logger;

  constructor(
    private readonly db: () => Db,
    { log, now = () => Date.now(), elapsed = () => performance.now(), intervalMs = MEASURE_INTERVAL_MS, deadlineMs = MEASURE_DEADLINE_MS }: ClockOptions,
  ) {
    this.log = log;
    this.localNow = now;
    this.elapsed = elapsed;
    this.intervalMs = intervalMs;
    this.deadlineMs = deadlineMs;
  }

  /**
   * What to add to this process's time to get the database's: the last measurement,
   * or 0 before the first (said once in the log: windows are then on this process's clock).
   */
  offsetMs(): number {
    const measured = this.measuredOffsetMs();
    if (measured !== undefined) return measured;
    if (!this.saidUnmeasured) {
      this.saidUnmeasured = true;
      this.log.info("the database's clock is not measured yet: windowed counters and single-use keys wait for it, other times use this process's clock");
    }
    return 0;
  }

  /**
   * What to add to this process's time now to get the database's, or undefined before a measurement worked. The
   * database's time runs on the monotonic clock since the last measurement, so this follows a step of the host's
   * wall clock at once (the process's time moved, the database's did not).
   */
  measuredOffsetMs(): number | undefined {
    const anchor = this.anchor;
    if (!anchor) return undefined;
    // How far the wall clock moved apart from the monotonic one since: a step (NTP, a VM resumed) is taken out at once.
    const step = this.localNow() - anchor.local - (this.elapsed() - anchor.at);
    return Math.abs(step) > WALL_STEP_MS ? Math.round(anchor.offsetMs - step) : anchor.offsetMs;
  }

  /** The time now on the database's clock (this process's clock until measured). */
  now(): number {
    return this.localNow() + this.offsetMs();
  }

  /** The last good measurement, if any (the offset gauge). */
  get measurement(): ClockMeasurement | undefined {
    return this.last;
  }

  /** Measures now (resolved when that is done, whether it worked) and then every intervalMs until stop(). */
  start(): Promise<boolean> {
    if (!this.timer && !this.stopped) {
      this.timer = setInterval(() => void this.measure(), this.intervalMs);
      this.timer.unref();
    }
    return this.measure();
  }

  stop(): void {
    this.stopped = true;
    clearInterval(this.timer);
    clearTimeout(this.retry);
  }

  /** One measurement, under its deadline; true when it gave a new offset. One at a time: a second call joins the one under way. */
  measure(): Promise<boolean> {
    this.running ??= this.measureOnce().finally(() => (this.running = undefined));
    return this.running;
  }

  private async measureOnce(): Promise<boolean> {
    let best: ClockMeasurement | undefined;
    try {
      await withDeadline(
        (async () => {
          for (let i = 0; i < SAMPLES && !this.stopped; i++) {
            const sample = await this.sample();
            if (sample.roundTripMs <= MAX_ROUND_TRIP_MS && (!best || sample.roundTripMs < best.roundTripMs)) best = sample;
          }
        })(),
        this.deadlineMs,
        () => new Error(`no answer within ${this.deadlineMs} ms`),
      );
    } catch (error) {
      // A deadline that cut the later samples still leaves the earlier ones.
      if (!best) return this.failed(error instanceof Error ? error.message : String(error));
    }
    if (!best) return this.failed(`every round trip took more than ${MAX_ROUND_TRIP_MS} ms`);
    this.taken(best);
    return true;
  }

  /** One round trip: the server's clock against the midpoint of ours around it. */
  private async sample(): Promise<ClockMeasurement> {
    const sent = this.localNow();
    const reply = await this.ask();
    const received = this.localNow();
    const localTime: unknown = reply["localTime"];
    if (!(localTime instanceof Date) || Number.isNaN(localTime.getTime())) throw new Error(`the ${this.command} reply carries no localTime`);
    return { offsetMs: localTime.getTime() - (sent + received) / 2, roundTripMs: received - sent };
  }

  private async ask(): Promise<Document> {
    // Abandoned by the driver well after the measurement's deadline (an abort closes the connection): a server that
    // never answers does not keep one connection of the pool per try, a try a second while unmeasured.
    const options = () => ({ signal: AbortSignal.timeout(this.deadlineMs * ABANDON_FACTOR) });
    try {
      return await this.db().command({ [this.command]: 1 }, options());
    } catch (error) {
      if (this.command !== "hello" || (error as { code?: unknown }).code !== COMMAND_NOT_FOUND) throw error;
      this.command = "isMaster";
      return this.db().command({ isMaster: 1 }, options());
    }
  }

  private taken(measured: ClockMeasurement): void {
    const first = this.last === undefined;
    const fields = { offsetMs: Math.round(measured.offsetMs), roundTripMs: measured.roundTripMs };
    if (this.failing) this.log.info(fields, "the database's clock is measured again");
    this.failing = false;
    if (!this.better(measured)) {
      this.log.debug(fields, "the database's clock measured over a slower round trip, within the kept offset's error: the kept one stays");
      return;
    }
    this.last = measured;
    const errorMs = measured.roundTripMs / 2 + 1;
    // An offset within the measurement's own error (half its round trip) is no offset: the same clock, or as good.
    const offsetMs = Math.abs(measured.offsetMs) <= errorMs ? 0 : Math.round(measured.offsetMs);
    this.anchor = { offsetMs, errorMs, local: this.localNow(), at: this.elapsed() };
    const far = Math.abs(measured.offsetMs) > FAR_OFFSET_MS;
    if (far && !this.far)
      this.log.warn(
        { ...fields, limitMs: FAR_OFFSET_MS },
        "this process's clock is more than 1 s from the database's: windowed counters use the database's; fix the hosts' time synchronization",
      );
    else if (!far && this.far) this.log.info(fields, "this process's clock is within 1 s of the database's again");
    else if (first) this.log.info(fields, "the database's clock is measured: windowed counters use it");
    this.far = far;
  }

  /**
   * Whether `measured` is to replace the offset in force: none yet; an error (half its round trip) no larger than
   * the kept one's, grown since by DRIFT_PER_MS and by any slew of the wall clock; or an offset that disagrees with
   * the kept one beyond both errors (the database's clock moved, or another server answers now): the kept one is
   * wrong, whatever its round trip.
   */
  private better(measured: ClockMeasurement): boolean {
    const anchor = this.anchor;
    const kept = this.measuredOffsetMs();
    if (!anchor || kept === undefined) return true;
    // Its error grows with drift, and with the wall clock's moves too small to be taken out as a step (a slew).
    const moved = Math.abs(this.localNow() - anchor.local - (this.elapsed() - anchor.at));
    const keptErrorMs = anchor.errorMs + DRIFT_PER_MS * Math.max(0, this.elapsed() - anchor.at) + (moved > WALL_STEP_MS ? 0 : moved);
    const errorMs = measured.roundTripMs / 2 + 1;
    return errorMs <= keptErrorMs || Math.abs(measured.offsetMs - kept) > errorMs + keptErrorMs;
  }

  private failed(why: string): boolean {
    if (this.stopped) return false;
    const kept = this.last
      ? `the last offset measured (${Math.round(this.last.offsetMs)} ms) is kept`
      : `windowed counters are refused until it is (tried again in ${UNMEASURED_RETRY_MS} ms)`;
    this.log[this.failing ? "debug" : "warn"]({ err: why }, `could not measure the database's clock: ${kept}`);
    this.failing = true;
    // Windowed counters refuse until a first measurement works: try again soon, not at the next interval.
    if (!this.last && !this.retry) {
      this.retry = setTimeout(() => {
        this.retry = undefined;
        void this.measure();
      }, UNMEASURED_RETRY_MS);
      this.retry.unref();
    }
    return false;
  }
}
