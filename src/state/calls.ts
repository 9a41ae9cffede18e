// The deadline of state calls (state_timeout_ms) says when the database has stopped
// answering, not how long one call may queue: a call fails once the database has
// been silent for state_timeout_ms while it waited (no answer to it, nor to any
// other state call of this process), or once it has waited CAP_FACTOR times that
// in all. Its wait starts when its work began waiting on the database: a read or a
// reservation queued behind one the database does not answer (read-batcher.ts,
// lanes.ts) counts that silence too, so it is refused state_timeout_ms after it
// arrived, not after the one before it and then its own. A database that is down,
// unreachable or hung is so found out within state_timeout_ms, and the decision
// fails closed at once; a database that is answering, only slower because the
// machine is busy (a burst, a shared host), is waited for instead of every decision
// of the burst being refused. Both are measured on the answers themselves, after
// the event loop has taken in what already arrived (deadline.ts ioFirst), not on
// local queueing: waiting for a turn at the database is admission's (admission.ts),
// with a deadline of its own.
//
// Once a call has been refused for the database's silence, and until the database
// answers anything again, the process knows it silent: something keeps asking it (a
// ping, one every state_timeout_ms while calls keep coming; or, when none is under
// way, the next call itself, waited for as above), and every other call is refused
// at once, without being sent. A decision then fails closed in a millisecond rather
// than half a second (also the reservations that queue on one document, lanes.ts),
// an outage does not fill admission with calls bound to fail, and nothing is sent
// that would have to be undone. A give-back (a rollback of a refused decision's
// reservations, or a Release's once its lookup was answered) is always sent: it can
// only return budget; a Release's lookup is refused like any call (the SDK retries
// it). The first answer, to the ping or to any call still under way, ends it.
//
// A write that holds budget (a reservation, a once key) and fails its caller may
// still hold it: it landed after its deadline, or its outcome is unknown (the
// connection failed after the write was sent, or the driver gave up on it). Its
// `undo` gives back whatever it holds, at most once whoever asks (a conditional
// update): when a late success arrives; for an unknown outcome at once and again once
// the write can no longer be in flight, since an undo that overtakes its write finds
// nothing; each try retried a few times while the database does not take it. Only a
// server's refusal proves that nothing was written; budget an undo cannot give back
// stays held until its window ends: never an overspend. A brake's count has no undo:
// it stays counted (counters.ts, forGood), so a brake fires sooner, never later. A
// refused decision's rollback (giveBack) is retried the same way when its first try
// fails.
import { MongoServerError, MongoServerSelectionError, MongoWriteConcernError, type Collection, type Document } from "mongodb";
import type { Logger } from "../observability/index.js";
import { isDuplicateKey, StateUnavailableError } from "./errors.js";
import { giveBackOrRetry, giveBackUntilTaken, pause, type Retrying } from "./give-back.js";

/**
 * Told of each call when it ends: its operation (e.g. "reserve"), its time, and how
 * it failed: timeout (no answer within the deadline), conflict (a duplicate key: a
 * write that raced another, which the store resolves), silent (refused at once, not
 * sent: the database was found silent and has not answered since), error (anything
 * else).
 */
export type CallObserver = (operation: string, seconds: number, failure?: CallFailure) => void;
export type CallFailure = "timeout" | "conflict" | "error" | "silent";

export interface CallOptions {
  /**
   * Gives back what this write holds, if it holds anything (at most once, whoever
   * asks), for a write that may hold budget while its caller was told it failed:
   * true when it gave something back.
   */
  undo?: () => Promise<boolean>;
  /**
   * When the work this call does began waiting on the database (performance.now()),
   * if earlier than the call: queued behind another call of this process. The
   * database's silence since then counts; the cap still runs from the call's start.
   */
  waitingSince?: number;
  /** A give-back: sent even while the database is known silent (it can only return budget). */
  givesBack?: boolean;
}

/** The options of a give-back (a rollback or a Release): sent even while the database is known silent. */
export const GIVES_BACK = { givesBack: true } as const;

/** A call waits at most this many times state_timeout_ms in all, however lively the database. */
export const CAP_FACTOR = 4;

export { UNDO_TRIES } from "./give-back.js";

export interface StateCallsOptions {
  /** Told of each call when it ends (the metrics of database calls). */
  onCall?: CallObserver;
  /** Asks the database while it is known silent; without it, the next call asks. */
  ping?: (signal: AbortSignal) => Promise<unknown>;
  /** Told of undos and give-backs going on in the background, so that closing the database waits for them (Database.finishBeforeClose). */
  keepOpenFor?: (work: Promise<unknown>) => void;
}

export class StateCalls {
  /** When the database last answered a state call of this process (performance.now()). */
  private lastAnswer = -Infinity;
  /** When a call was last refused for the database's silence; known silent while no answer came after it. */
  private silentAt = -Infinity;
  /** Calls and pings asking the database while it is known silent (the other calls are refused at once). */
  private asking = 0;
  /** Pinging the database, one ping a round, while it is known silent and calls keep being refused. */
  private pinging = false;
  /** A call was refused (or the silence found) since the current round's ping was sent. */
  private refusedSincePing = false;

  private readonly onCall: CallObserver | undefined;
  private readonly ping: ((signal: AbortSignal) => Promise<unknown>) | undefined;
  private readonly retrying: Retrying;

  constructor(
    readonly timeoutMs: number,
    private readonly log: Logger,
    { onCall, ping, keepOpenFor }: StateCallsOptions = {},
  ) {
    this.onCall = onCall;
    this.ping = ping;
    this.retrying = { timeoutMs, log, ...(keepOpenFor ? { keepOpenFor } : {}) };
  }

  /** The longest a call may wait, however lively the database. */
  get capMs(): number {
    return this.timeoutMs * CAP_FACTOR;
  }

  /**
   * Runs one database call under the deadline; any failure becomes
   * StateUnavailableError. The deadline is ours (a timer), not the driver's abort:
   * the driver closes a connection it is establishing when its call is aborted, so
   * against a cold or restarting server a 50 ms abort would keep the pool from ever
   * warming up. The driver's own call is abandoned later (abandonMs). A write that
   * lands after its deadline, or whose outcome is unknown, can only have held budget,
   * never granted it: its `undo` gives it back.
   */
  call<T>(
    what: string,
    operation: (options: { signal: AbortSignal; maxTimeMS: number }) => Promise<T>,
    { undo, waitingSince, givesBack = false }: CallOptions = {},
  ): Promise<T> {
    const asks = !givesBack && this.knownSilent;
    if (asks && this.asking > 0) {
      this.onCall?.(what, 0, "silent");
      this.keepPinging();
      return Promise.reject(
        new StateUnavailableError(`${what}: the database has not answered for ${this.timeoutMs} ms; refused at once until it answers`, { atOnce: true }),
      );
    }
    if (asks) this.asking += 1;
    const started = performance.now();
    const waiting = Math.min(waitingSince ?? started, started);
    // an operation that throws at once is settled below like any failure (an asking call's turn is freed)
    const running = (async () => operation({ signal: AbortSignal.timeout(this.abandonMs), maxTimeMS: this.capMs }))();
    return new Promise<T>((resolve, reject) => {
      let settled = false;
      let timer: NodeJS.Timeout | undefined;
      const observe = (failure?: CallFailure) => {
        if (asks) this.asking -= 1;
        this.onCall?.(what, (performance.now() - started) / 1_000, failure);
      };
      const expire = (why: string) => {
        settled = true;
        observe("timeout");
        reject(new StateUnavailableError(`${what}: ${why}`));
      };
      const check = () => {
        if (settled) return;
        const now = performance.now();
        const silent = now - Math.max(this.lastAnswer, waiting);
        if (silent >= this.timeoutMs) {
          this.foundSilent(now, what);
          return expire(`the database has not answered for ${this.timeoutMs} ms`);
        }
        if (now - started >= this.capMs) return expire(`no answer within ${this.capMs} ms`);
        arm(Math.min(this.timeoutMs - silent, started + this.capMs - now));
      };
      // After the timer, one turn of the loop first: an answer that already arrived is taken in before the check.
      const arm = (ms: number) => (timer = setTimeout(() => setImmediate(check), Math.max(1, Math.ceil(ms))));
      arm(this.timeoutMs - (started - Math.max(this.lastAnswer, waiting)));
      running.then(
        (value) => {
          this.answered();
          if (!settled) {
            settled = true;
            clearTimeout(timer);
            observe();
            resolve(value);
          } else if (undo) {
            this.inBackground(this.undo(what, undo, "landed after its deadline"));
          }
        },
        (error: unknown) => {
          if (error instanceof MongoServerError) this.answered(); // an answer all the same
          // The write may have landed all the same: given back at once, and again once it can no longer be in flight.
          if (undo && outcomeUnknown(error))
            this.inBackground(this.undo(what, undo, "outcome unknown").then(() => pause(this.abandonMs).then(() => this.undo(what, undo, "outcome unknown"))));
          if (settled) return; // a failure after the deadline has no one to tell
          settled = true;
          clearTimeout(timer);
          observe(isDuplicateKey(error) ? "conflict" : "error");
          reject(error instanceof StateUnavailableError ? error : new StateUnavailableError(`${what}: ${(error as Error).message}`, { cause: error }));
        },
      );
    });
  }

  /** A refused decision's rollback (`once`: one try): tried at once, then in the background while the database does not take it. */
  giveBack(what: string, once: () => Promise<boolean>): Promise<boolean> {
    return giveBackOrRetry(what, once, this.retrying);
  }

  /** Runs a write's undo, tried again while the database does not take it. */
  private undo(what: string, undo: () => Promise<boolean>, why: string): Promise<void> {
    return giveBackUntilTaken(what, undo, why, this.retrying);
  }

  /** An undo under way after its caller was answered: closing the database waits for it. */
  private inBackground(work: Promise<void>): void {
    this.retrying.keepOpenFor?.(work); // it never rejects: an undo that fails says so itself
  }

  /** Refused for silence and not answered since: calls other than the one asking are refused at once. */
  private get knownSilent(): boolean {
    return this.silentAt > this.lastAnswer;
  }

  private foundSilent(now: number, what: string): void {
    if (!this.knownSilent)
      this.log.warn(
        { what, timeoutMs: this.timeoutMs },
        "the state database has not answered for state_timeout_ms: state calls are refused at once until it answers (it is pinged meanwhile)",
      );
    this.silentAt = now;
    this.keepPinging();
  }

  /** Calls are being refused at once: a ping goes every round while they are, until the database answers. */
  private keepPinging(): void {
    this.refusedSincePing = true;
    if (!this.ping || this.pinging) return;
    this.pinging = true;
    void this.pingWhileRefusing(this.ping).finally(() => (this.pinging = false));
  }

  /** One ping a round of state_timeout_ms, while the database is known silent and calls were refused during the round before. */
  private async pingWhileRefusing(ping: (signal: AbortSignal) => Promise<unknown>): Promise<void> {
    while (this.knownSilent && this.refusedSincePing) {
      this.refusedSincePing = false;
      this.asking += 1;
      const sent = performance.now();
      const settled = ping(AbortSignal.timeout(this.abandonMs)).then(
        () => this.answered(),
        (error: unknown) => {
          if (error instanceof MongoServerError) this.answered(); // an answer all the same
        },
      );
      await Promise.race([settled, pause(this.timeoutMs)]);
      // a ping that failed at once (not an answer) still waits out its round: one ping a round at most
      if (this.knownSilent) await pause(this.timeoutMs - (performance.now() - sent));
      this.asking -= 1;
    }
  }

  private answered(): void {
    if (this.knownSilent) this.log.info("the state database answers again: state calls are sent again");
    this.lastAnswer = performance.now();
  }

  /** When the driver gives up on a call whose answer came too late to be used. */
  private get abandonMs(): number {
    return Math.max(2_000, this.capMs * 2);
  }
}

/** A store over one collection of the state database: every call under the state deadline. */
export abstract class StateCollection<T extends Document> {
  constructor(
    protected readonly collection: Collection<T>,
    protected readonly calls: StateCalls,
  ) {}
}

/**
 * Whether a failed write may have been applied: anything but a server's refusal (a
 * connection that failed after the write was sent, the driver giving up on it; a
 * write concern error is the server's, but the write was applied). A server that
 * could not be selected was never sent anything.
 */
function outcomeUnknown(error: unknown): boolean {
  if (error instanceof MongoWriteConcernError) return true;
  return !(error instanceof MongoServerError || error instanceof MongoServerSelectionError || error instanceof StateUnavailableError);
}
