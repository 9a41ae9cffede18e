// Every error the AuthZEN listener answers with: a stable snake_case code, the
// HTTP status the Authorization API 1.0 names for it (400 for anything malformed,
// 401 unauthenticated, 403 forbidden), and a JSON body { error, message }.

export const AUTHZEN_ERRORS = {
  /** The request is not `Content-Type: application/json`. */
  invalid_content_type: 400,
  /** The body is not valid JSON. */
  malformed_json: 400,
  /** No body. */
  empty_body: 400,
  /** An object repeats a member name (I-JSON, RFC 7493 §2.3). */
  duplicate_member: 400,
  /** A required field is missing or has the wrong type, or a value is out of Verdict's bounds. */
  invalid_request: 400,
  /** X-Request-ID is longer than 128 characters or not printable ASCII. */
  invalid_request_id: 400,
  /** page.token is not one this PDP issued for this search. */
  invalid_page_token: 400,
  /** A follow-up page changed the entities, context or limit of the first request. */
  page_request_changed: 400,
  /** The PEP did not authenticate as a registered API. */
  unauthenticated: 401,
  /** The API is registered but not listed in authzen.apis. */
  api_not_enabled: 403,
  /** Subject search evaluates subjects without tokens: only for APIs trusted to assert subjects. */
  asserted_subjects_not_trusted: 403,
  not_found: 404,
  method_not_allowed: 405,
  /** The body is larger than authzen.max_body_bytes. */
  request_too_large: 413,
  internal_error: 500,
  /** The directory could not be read in time: no decision was made. */
  directory_unavailable: 503,
} as const;

export type AuthzenErrorCode = keyof typeof AUTHZEN_ERRORS;

export class AuthzenError extends Error {
  readonly status: number;
  constructor(
    readonly code: AuthzenErrorCode,
    message: string,
  ) {
    super(message);
    this.name = "AuthzenError";
    this.status = AUTHZEN_ERRORS[code];
  }
}

export interface ErrorBody {
  error: AuthzenErrorCode;
  message: string;
}

export function errorBody(error: AuthzenError): ErrorBody {
  return { error: error.code, message: error.message };
}
