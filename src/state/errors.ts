/** The database could not be reached, or did not answer within the deadline. */
export class StateUnavailableError extends Error {
  readonly code = "state_unavailable";
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "StateUnavailableError";
  }
}
