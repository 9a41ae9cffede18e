// What the AuthZEN listener answers for an error: the HTTP status of its code in the
// one error table (src/errors), and a JSON body { error, message } whose `error` is
// that code (docs/authzen.md lists them).
import { ERRORS, VerdictError, type ErrorCode } from "../../errors/index.js";

/** The codes the AuthZEN listener answers with (each one a row of src/errors). */
export type AuthzenErrorCode = Extract<
  ErrorCode,
  | "invalid_content_type"
  | "malformed_json"
  | "empty_body"
  | "duplicate_member"
  | "invalid_request"
  | "invalid_request_id"
  | "invalid_page_token"
  | "page_request_changed"
  | "unauthenticated"
  | "api_not_enabled"
  | "asserted_subjects_not_trusted"
  | "not_found"
  | "method_not_allowed"
  | "request_too_large"
  | "request_timeout"
  | "headers_too_large"
  | "internal_error"
  | "directory_unavailable"
  | "overloaded"
>;

export class AuthzenError extends VerdictError {
  declare readonly code: AuthzenErrorCode;
  readonly status: number;
  /** `retryAfterMs`: sent as Retry-After (whole seconds, rounded up). */
  constructor(code: AuthzenErrorCode, message: string, retryAfterMs?: number) {
    super(code, message, retryAfterMs === undefined ? undefined : { retryAfterMs });
    this.status = ERRORS[code].http;
  }
}

export interface ErrorBody {
  error: AuthzenErrorCode;
  message: string;
}

export function errorBody(error: AuthzenError): ErrorBody {
  return { error: error.code, message: error.message };
}
