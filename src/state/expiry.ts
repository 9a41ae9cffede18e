// Every expiry written to the database is checked here first. A Date built from an
// absurd number (exp 1e300) is invalid, and the driver stores an invalid Date as
// 1970: a single-use key that "expired" in 1970 is taken over by its next use.
import { VerdictError } from "../errors/index.js";

/** Further ahead than any window, ledger or token Verdict keeps state for. */
export const MAX_EXPIRY_MS = 400 * 86_400_000;

/** An expiry that is not a real time, or lies absurdly far from now; never written. */
export class InvalidExpiryError extends VerdictError {
  constructor(what: string, expiresAt: Date) {
    super(
      "expiry_invalid",
      `${what}: expiry ${Number.isFinite(expiresAt.getTime()) ? expiresAt.toISOString() : "(not a valid time)"} is not within ${MAX_EXPIRY_MS / 86_400_000} days of now`,
    );
  }
}

/** Returns `expiresAt` when it is a valid time after the epoch and at most MAX_EXPIRY_MS after `nowMs`; throws otherwise. */
export function checkedExpiry(what: string, expiresAt: Date, nowMs: number): Date {
  const at = expiresAt.getTime();
  if (!Number.isFinite(at) || at <= 0 || !Number.isFinite(nowMs) || at > nowMs + MAX_EXPIRY_MS) throw new InvalidExpiryError(what, expiresAt);
  return expiresAt;
}
