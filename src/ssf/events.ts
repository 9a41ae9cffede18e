// Which Shared Signals events become which suspensions, and whom they name. Subjects
// are RFC 9493 subject identifiers (iss_sub, opaque, or a complex subject with a user
// and a session), at the SET's top level (sub_id, SSF 1.0) or in the event (subject,
// the CAEP/RISC drafts). Anything else is acknowledged and ignored.
import type { SuspensionTarget } from "../contract/index.js";

export const CAEP = "https://schemas.openid.net/secevent/caep/event-type/";
export const RISC = "https://schemas.openid.net/secevent/risc/event-type/";

/**
 * What an event does: suspend the user (until resumed), revoke the tokens issued
 * before it (for revocation_seconds), or resume what this transmitter's
 * account-disabled suspended at or before the resuming event's time.
 */
export type EventEffect = "suspend" | "revoke" | "resume";

export const EVENT_EFFECTS: Readonly<Record<string, { name: string; effect: EventEffect }>> = {
  [`${CAEP}session-revoked`]: { name: "session-revoked", effect: "revoke" },
  [`${CAEP}credential-change`]: { name: "credential-change", effect: "revoke" },
  [`${RISC}account-disabled`]: { name: "account-disabled", effect: "suspend" },
  [`${RISC}account-purged`]: { name: "account-purged", effect: "suspend" },
  [`${RISC}credential-compromise`]: { name: "credential-compromise", effect: "revoke" },
  [`${RISC}account-enabled`]: { name: "account-enabled", effect: "resume" },
};

/** The events whose suspensions account-enabled lifts. */
export const RESUMED_BY_ENABLE = ["account-disabled"];

/**
 * The target an event's subject names: a session (when it names one), else a user;
 * undefined when it names neither in a form Verdict can match to tokens (an email, a phone number).
 */
export function targetOf(subject: unknown, defaultIssuer: string | undefined): SuspensionTarget | undefined {
  if (!isObject(subject)) return undefined;
  const format = subject["format"];
  const withIssuer = (target: SuspensionTarget): SuspensionTarget =>
    defaultIssuer !== undefined && target.issuer === undefined ? { ...target, issuer: defaultIssuer } : target;
  if (format === "iss_sub" && isText(subject["iss"]) && isText(subject["sub"])) return { kind: "user", issuer: subject["iss"], subject: subject["sub"] };
  if (format === "opaque" && isText(subject["id"])) return withIssuer({ kind: "user", subject: subject["id"] });
  if (format === "complex" || format === undefined) {
    // A complex subject (RFC 9493 §3.2 / CAEP): the session is the narrowest thing it names.
    const session = subject["session"];
    if (isObject(session) && session["format"] === "opaque" && isText(session["id"])) return withIssuer({ kind: "session", session_id: session["id"] });
    if (subject["user"] !== undefined) return targetOf(subject["user"], defaultIssuer);
  }
  return undefined;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function isText(value: unknown): value is string {
  return typeof value === "string" && value.length > 0 && value.length <= 512;
}
