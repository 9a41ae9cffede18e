// One error type for the SDK. Callers switch on `code`, never on message text.
// A call's codes mean "no decision was obtained": the middleware never lets such a
// request through (fail closed). The last three are the app's: its options, a
// request no guard allowed, a release the SDK cannot make safely.

export type VerdictErrorCode =
  /** Verdict could not be reached, or was overloaded (gRPC UNAVAILABLE, RESOURCE_EXHAUSTED). */
  | "verdict_unavailable"
  /** No answer within the deadline; the call may or may not have been decided. */
  | "verdict_deadline_exceeded"
  /** Verdict did not accept this API's credential (API key or client certificate). */
  | "verdict_unauthenticated"
  /** Verdict refused the request as malformed (e.g. an action name it cannot accept). */
  | "verdict_invalid_argument"
  /** Verdict failed without a decision (gRPC INTERNAL, UNKNOWN, ...). */
  | "verdict_internal_error"
  /** The answer did not fit the contract: an unknown decision, or a decision missing what it requires. */
  | "verdict_malformed_response"
  /** The client was closed before or during the call. */
  | "verdict_client_closed"
  /** createVerdictClient or a middleware was given options it cannot work with. */
  | "verdict_invalid_options"
  /** A handler asked for the Verdict context of a request that no guard allowed. */
  | "verdict_not_checked"
  /**
   * `req.verdict.release()` on an MCP request that passed on several messages of a batch:
   * some may have run, so nothing is released; release each decision on its own.
   */
  | "verdict_release_ambiguous";

export class VerdictError extends Error {
  override readonly name = "VerdictError";

  constructor(
    readonly code: VerdictErrorCode,
    message: string,
    /** The gRPC status name, when the error came from a call (e.g. "UNAVAILABLE"). */
    readonly grpcStatus?: string,
    /**
     * When Verdict refused the call as overloaded (nothing decided, nothing applied), how
     * long it asked to wait before sending it again (`grpc-retry-pushback-ms`): the 503's
     * Retry-After.
     */
    readonly retryAfterMs?: number,
  ) {
    super(message);
  }
}

export function isVerdictError(value: unknown): value is VerdictError {
  return value instanceof VerdictError;
}
