import { MongoServerError } from "mongodb";
import { VerdictError } from "../errors/index.js";

/** The database could not be reached, or did not answer within the deadline. */
export class StateUnavailableError extends VerdictError {
  constructor(message: string, options?: { cause?: unknown }) {
    super("state_unavailable", message, options);
  }
}

/** More decisions need the database than can be admitted in time: refused before anything was read or written. */
export class OverloadedError extends VerdictError {
  constructor(message: string) {
    super("overloaded", message);
  }
}

/** A unique-key violation (E11000), directly or as the cause of a StateUnavailableError. */
export function isDuplicateKey(error: unknown): boolean {
  const cause = (error as { cause?: unknown }).cause ?? error;
  return cause instanceof MongoServerError && cause.code === 11000;
}
