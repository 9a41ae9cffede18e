// New decisions waiting for their first evaluation to start, each with the time by
// which it must have started: its admission plus the queue's bound in time, or its
// caller's own deadline, whichever is first. A decision still waiting by then is
// handed back to be refused whole (overloaded: nothing evaluated, nothing applied)
// instead of being evaluated for a caller that has gone or has waited too long;
// one whose evaluation has started is never refused (a batch is decided whole).
//
// The count bounds of the pool say how much may wait; this one says for how long,
// which a count cannot: 1,024 decisions of a policy that takes 100 ms each are
// minutes of waiting, and evaluating the decisions of callers whose deadline has
// passed only makes the ones behind them late too.
import { performance } from "node:perf_hooks";

/** How often waiting decisions are looked at: a refusal comes at most this late. */
const SWEEP_MS = 25;

export interface Waiting {
  /** performance.now() when it was admitted. */
  readonly admittedAt: number;
  /** performance.now() by which its first evaluation must have started. */
  readonly limit: number;
  /** Why it may wait no longer than `limit`: the queue's bound, or its caller's deadline. */
  readonly bound: "queue" | "caller";
}

export class WaitingDecisions<T extends Waiting> {
  private readonly waiting = new Set<T>();
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly onExpired: (expired: T[]) => void) {}

  /**
   * The time bound of a decision admitted now: `queueTimeoutMs` from now, or
   * `answerBy` (the caller's deadline, ms since the epoch) when that is sooner.
   */
  static limitOf(queueTimeoutMs: number, answerBy?: number): Waiting {
    const admittedAt = performance.now();
    const callerLeft = answerBy === undefined ? Infinity : answerBy - Date.now();
    return callerLeft < queueTimeoutMs
      ? { admittedAt, limit: admittedAt + callerLeft, bound: "caller" }
      : { admittedAt, limit: admittedAt + queueTimeoutMs, bound: "queue" };
  }

  add(decision: T): void {
    this.waiting.add(decision);
    this.timer ??= setTimeout(() => this.sweep(), SWEEP_MS).unref();
  }

  /** Its first evaluation has been handed to a worker: it is no longer refused. */
  started(decision: T): void {
    this.waiting.delete(decision);
  }

  /** Forgets every waiting decision (the pool is closing and answers them itself). */
  clear(): void {
    this.waiting.clear();
    clearTimeout(this.timer);
    this.timer = undefined;
  }

  private sweep(): void {
    this.timer = undefined;
    const now = performance.now();
    const expired: T[] = [];
    for (const decision of this.waiting) if (decision.limit <= now) expired.push(decision);
    for (const decision of expired) this.waiting.delete(decision);
    if (this.waiting.size > 0) this.timer = setTimeout(() => this.sweep(), SWEEP_MS).unref();
    if (expired.length > 0) this.onExpired(expired);
  }
}
