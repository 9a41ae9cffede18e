import { MongoServerError } from "mongodb";
import { overloadPushbackMs, VerdictError } from "../errors/index.js";

/** The database could not be reached, or did not answer within the deadline. */
export class StateUnavailableError extends VerdictError {
  /** Refused without being sent: the database is known silent (calls.ts); said once in the log, not at each refusal. */
  readonly atOnce: boolean;

  constructor(message: string, options?: { cause?: unknown; atOnce?: boolean }) {
    super("state_unavailable", message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.atOnce = options?.atOnce ?? false;
  }
}

/**
 * More decisions need the database than can be admitted in time: refused before
 * anything was read or written. `queueBoundMs`: the bound in time of the queue that
 * refused it, from which `retryAfterMs` is drawn (overloadPushbackMs).
 */
export class OverloadedError extends VerdictError {
  constructor(message: string, queueBoundMs?: number) {
    super("overloaded", message, queueBoundMs === undefined ? undefined : { retryAfterMs: overloadPushbackMs(queueBoundMs) });
  }
}

/** A unique-key violation (E11000), directly or as the cause of a StateUnavailableError. */
export function isDuplicateKey(error: unknown): boolean {
  const cause = (error as { cause?: unknown }).cause ?? error;
  return cause instanceof MongoServerError && cause.code === 11000;
}
