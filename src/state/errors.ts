import { MongoServerError } from "mongodb";

/** The database could not be reached, or did not answer within the deadline. */
export class StateUnavailableError extends Error {
  readonly code = "state_unavailable";
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "StateUnavailableError";
  }
}

/** A unique-key violation (E11000), directly or as the cause of a StateUnavailableError. */
export function isDuplicateKey(error: unknown): boolean {
  const cause = (error as { cause?: unknown }).cause ?? error;
  return cause instanceof MongoServerError && cause.code === 11000;
}
