// One error model for all of Verdict: every error it raises is a VerdictError whose
// `code` is one of ERRORS' keys, and that table says what each edge answers for it
// (the gRPC status, the HTTP status of an HTTP edge, the `verdict` command's exit
// code). Callers switch on `code`, never on message text. A leaf: imports nothing.

/** What an edge answers for an error: gRPC status numbers (so this module needs no grpc-js). */
export interface ErrorMapping {
  /** google.rpc.Code, e.g. 3 INVALID_ARGUMENT. */
  grpc: number;
  /** The HTTP status of google.rpc.Code's own HTTP mapping (400, 401, 403, 500, 503 ...). */
  http: number;
  /** The exit code of a `verdict` command that ends with it (2: it was called wrongly). */
  exit: number;
}

const INVALID_ARGUMENT = 3;
const DEADLINE_EXCEEDED = 4;
const NOT_FOUND = 5;
const PERMISSION_DENIED = 7;
const RESOURCE_EXHAUSTED = 8;
const FAILED_PRECONDITION = 9;
const UNIMPLEMENTED = 12;
const INTERNAL = 13;
const UNAVAILABLE = 14;
const UNAUTHENTICATED = 16;

export const ERRORS = {
  /** A request (or one item of it) that the edge cannot accept as sent. */
  invalid_argument: { grpc: INVALID_ARGUMENT, http: 400, exit: 2 },
  /** A `verdict` command called wrongly: printed with its usage. */
  usage_invalid: { grpc: INVALID_ARGUMENT, http: 400, exit: 2 },
  /** An audit trail query whose filters make no sense. */
  audit_query_invalid: { grpc: INVALID_ARGUMENT, http: 400, exit: 2 },
  /** The calling API is not known (API key, client certificate). */
  unauthenticated: { grpc: UNAUTHENTICATED, http: 401, exit: 1 },
  /** The calling API may not do this (audit.query_grants; a service it holds no grant for, apis[].grants). */
  permission_denied: { grpc: PERMISSION_DENIED, http: 403, exit: 1 },
  /** No approval with this id is kept (docs/approvals.md). */
  approval_not_found: { grpc: NOT_FOUND, http: 404, exit: 1 },
  /** The approval was already approved, refused or used: a person decides once. */
  approval_not_pending: { grpc: FAILED_PRECONDITION, http: 409, exit: 1 },
  /** The approval expired before anyone decided. */
  approval_expired: { grpc: FAILED_PRECONDITION, http: 410, exit: 1 },
  /** The deciding token is not the user's (nor a named approver's), or is an agent's (the requesting agent's own, another's, a delegated one). */
  approver_not_allowed: { grpc: PERMISSION_DENIED, http: 403, exit: 1 },
  /** The deciding token is bound to a DPoP key (cnf.jkt): the approval routes take no proof of possession, so it cannot be used there. */
  dpop_bound_token: { grpc: UNAUTHENTICATED, http: 401, exit: 1 },
  /** The deciding token's acr is not one the policy asked for, or its auth_time is older than max_age. */
  approval_authentication_insufficient: { grpc: UNAUTHENTICATED, http: 401, exit: 1 },
  /** The deciding token lacks a scope the policy asked the approval's decider to carry (RFC 6750 insufficient_scope). */
  approval_scope_insufficient: { grpc: PERMISSION_DENIED, http: 403, exit: 1 },
  /** Approvals are not available here (the database is not reached yet). */
  approvals_unavailable: { grpc: UNAVAILABLE, http: 503, exit: 1 },
  /** The audit trail is disabled in this Verdict's configuration. */
  audit_disabled: { grpc: FAILED_PRECONDITION, http: 400, exit: 1 },
  /** An access token (or DPoP proof) was refused; `reason` on TokenError says why. Becomes a DENY, not a call error. */
  invalid_token: { grpc: UNAUTHENTICATED, http: 401, exit: 1 },
  /** JSON that repeats a member name (tokens and proofs are parsed strictly). */
  json_duplicate_member: { grpc: INVALID_ARGUMENT, http: 400, exit: 1 },
  /** Bytes that are not UTF-8 where JSON text is expected (a token's header or payload, a DPoP proof). */
  json_invalid_utf8: { grpc: INVALID_ARGUMENT, http: 400, exit: 1 },
  /** The database did not answer in time: nothing was decided or released. */
  state_unavailable: { grpc: UNAVAILABLE, http: 503, exit: 1 },
  /** Verdict has more decisions waiting for the database than it can admit in time: refused before anything was read or written; retry later. */
  overloaded: { grpc: RESOURCE_EXHAUSTED, http: 503, exit: 1 },
  /** The audit trail's database did not answer in time. */
  audit_store_unavailable: { grpc: UNAVAILABLE, http: 503, exit: 1 },
  /** A policy failed, overran a bound, or returned what does not fit the output contract. Becomes DENY policy_error. */
  policy_error: { grpc: INTERNAL, http: 500, exit: 1 },
  /** A policy bundle that cannot be read or built. */
  bundle_invalid: { grpc: FAILED_PRECONDITION, http: 500, exit: 1 },
  /** The policy data's audit masking rules do not fit their contract. */
  mask_rule_invalid: { grpc: FAILED_PRECONDITION, http: 500, exit: 1 },
  /** A configuration that cannot be used: Verdict does not start. */
  config_invalid: { grpc: FAILED_PRECONDITION, http: 500, exit: 1 },
  /** A pinned tool (opa, local-mongo) is missing: npm run tools builds it. */
  tool_missing: { grpc: FAILED_PRECONDITION, http: 500, exit: 1 },
  /** An address that cannot be listened on (in use, no permission). */
  listen_failed: { grpc: UNAVAILABLE, http: 503, exit: 1 },
  /** `verdict check` got no decision: unreachable, refused, or rejected. */
  check_call_failed: { grpc: UNAVAILABLE, http: 503, exit: 1 },
  /** A `verdict policy` command that ran and failed (a failing test, a policy error). */
  policy_command_failed: { grpc: INTERNAL, http: 500, exit: 1 },
  /** A line of an audit spill file that is not a decision record. */
  spill_record_invalid: { grpc: INTERNAL, http: 500, exit: 1 },
  /** The audit spill directory cannot be trusted or used (owned by another user, not a directory): Verdict does not start. */
  spill_directory_invalid: { grpc: FAILED_PRECONDITION, http: 500, exit: 1 },
  /** An expiry that is no real time, or absurdly far ahead: never written to the database. A policy's obligation asking for one is DENY policy_error. */
  expiry_invalid: { grpc: INTERNAL, http: 500, exit: 1 },
  /** A directory file (`verdict directory load`, authzen.directory) that does not fit its format: nothing is written. */
  directory_file_invalid: { grpc: FAILED_PRECONDITION, http: 400, exit: 1 },
  /** Directory or AuthZEN entity properties out of bounds (depth, size, keys). */
  properties_invalid: { grpc: INVALID_ARGUMENT, http: 400, exit: 1 },
  /** The directory (AuthZEN subjects, resources, actions) could not be read in time: no decision was made. */
  directory_unavailable: { grpc: UNAVAILABLE, http: 503, exit: 1 },

  // The AuthZEN listener's refusals: each code is the `error` of its JSON body, the
  // HTTP status the Authorization API 1.0 names for it (docs/authzen.md).
  /** AuthZEN: the request is not `Content-Type: application/json`. */
  invalid_content_type: { grpc: INVALID_ARGUMENT, http: 400, exit: 1 },
  /** AuthZEN: the body is not valid JSON. */
  malformed_json: { grpc: INVALID_ARGUMENT, http: 400, exit: 1 },
  /** AuthZEN: no body. */
  empty_body: { grpc: INVALID_ARGUMENT, http: 400, exit: 1 },
  /** AuthZEN: an object of the body repeats a member name (I-JSON, RFC 7493 §2.3); json_duplicate_member on the wire. */
  duplicate_member: { grpc: INVALID_ARGUMENT, http: 400, exit: 1 },
  /** AuthZEN: a required field is missing or has the wrong type, or a value is out of Verdict's bounds (gRPC's invalid_argument). */
  invalid_request: { grpc: INVALID_ARGUMENT, http: 400, exit: 1 },
  /** AuthZEN: X-Request-ID is longer than 128 characters or not printable ASCII. */
  invalid_request_id: { grpc: INVALID_ARGUMENT, http: 400, exit: 1 },
  /** AuthZEN: page.token is not one this PDP issued for this search. */
  invalid_page_token: { grpc: INVALID_ARGUMENT, http: 400, exit: 1 },
  /** AuthZEN: a follow-up page changed the entities, context or limit of the first request. */
  page_request_changed: { grpc: INVALID_ARGUMENT, http: 400, exit: 1 },
  /** AuthZEN: the API is registered but not listed in authzen.apis. */
  api_not_enabled: { grpc: PERMISSION_DENIED, http: 403, exit: 1 },
  /** AuthZEN: Subject Search evaluates subjects without tokens, only for APIs trusted to assert subjects. */
  asserted_subjects_not_trusted: { grpc: PERMISSION_DENIED, http: 403, exit: 1 },
  /** AuthZEN: no endpoint at this path. */
  not_found: { grpc: NOT_FOUND, http: 404, exit: 1 },
  /** AuthZEN: another method than the endpoint's. */
  method_not_allowed: { grpc: UNIMPLEMENTED, http: 405, exit: 1 },
  /** AuthZEN: the body is larger than authzen.max_body_bytes. */
  request_too_large: { grpc: RESOURCE_EXHAUSTED, http: 413, exit: 1 },
  /** The request did not arrive whole in its time: a gRPC call's (request_timeout_ms), ended; an HTTP listener's (authzen.request_timeout_ms, the admin listener's), its connection closed. */
  request_timeout: { grpc: DEADLINE_EXCEEDED, http: 408, exit: 1 },
  /** An HTTP listener (AuthZEN, admin): the request's headers are larger than Node's bound (16 kB); the connection is closed. */
  headers_too_large: { grpc: RESOURCE_EXHAUSTED, http: 431, exit: 1 },
  /** AuthZEN's word for `internal` in its error body (and the audit reason of a decision that ended in one). */
  internal_error: { grpc: INTERNAL, http: 500, exit: 1 },

  /** Anything else: a bug. No decision was made. */
  internal: { grpc: INTERNAL, http: 500, exit: 1 },
} as const satisfies Record<string, ErrorMapping>;

export type ErrorCode = keyof typeof ERRORS;

export class VerdictError extends Error {
  /**
   * How long until the same request is worth sending again, when the error can say
   * (an overload refusal: the bound of the queue that refused it). The gRPC edge sends
   * it as `grpc-retry-pushback-ms` (gRFC A6's server pushback).
   */
  readonly retryAfterMs?: number;

  constructor(
    readonly code: ErrorCode,
    message: string,
    { retryAfterMs, ...options }: { cause?: unknown; retryAfterMs?: number } = {},
  ) {
    super(message, options);
    this.name = new.target.name;
    if (retryAfterMs !== undefined) this.retryAfterMs = retryAfterMs;
  }
}

/**
 * When a caller refused as overloaded by a queue bounded in time by `queueBoundMs` is
 * told to retry: after that bound (by then every decision waiting when it was refused
 * has had its turn or been refused) and up to half as much again, at random, so that
 * the callers of a burst, refused together, do not all come back together (a client
 * honouring gRFC A6's pushback adds no jitter of its own).
 */
export function overloadPushbackMs(queueBoundMs: number, random: () => number = Math.random): number {
  return Math.round(queueBoundMs * (1 + random() / 2));
}

/** The table's row for any thrown value: an error that is not a VerdictError is `internal`. */
export function mappingOf(error: unknown): ErrorMapping {
  return ERRORS[error instanceof VerdictError ? error.code : "internal"];
}

/**
 * The listen_failed error for a listener that could not bind host:port, in the same
 * words whichever listener it was: a port in use and a refused port say so plainly.
 */
export function listenFailed(host: string, port: number, error: unknown, listener?: string): VerdictError {
  const { code, message } = error as { code?: unknown; message?: unknown };
  const text = String(message ?? error);
  const why =
    code === "EADDRINUSE" || /EADDRINUSE/.test(text)
      ? "the address is already in use (is another Verdict running?)"
      : code === "EACCES" || /EACCES/.test(text)
        ? "permission denied"
        : text;
  const where = `${host.includes(":") ? `[${host}]` : host}:${port}${listener ? ` (${listener})` : ""}`;
  return new VerdictError("listen_failed", `cannot listen on ${where}: ${why}`, { cause: error });
}
