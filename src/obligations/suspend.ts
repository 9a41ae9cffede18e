// suspend: an automatic brake. Suspends the decision's principal (its agent, user,
// delegation, token or session) for `seconds`; with `after`, only once more than
// `after` decisions carrying it fall in `window` under `key` (e.g. 20 denials a
// minute). Applied whatever the effect, so a policy can attach it to its denials;
// it never refuses a decision, and a suspension is not given back (undo is a no-op).
import { reason } from "@verdict/sdk/wire";
import {
  SUSPENSION_KINDS,
  storageKey,
  windowLabel,
  type ObligationBase,
  type PrincipalIds,
  type SuspensionKind,
  type SuspensionTarget,
  type WindowSpec,
} from "../contract/index.js";
import type { ObligationType } from "./type.js";

export interface SuspendRequest extends ObligationBase {
  type: "suspend";
  target: SuspensionKind;
  seconds: number;
  /** The brake's threshold: suspend once more than this many fall in `window`. */
  after?: { limit: number; window: WindowSpec };
}

/** A policy may suspend for at most a day; longer is for people (AdminService). */
const MAX_SECONDS = 86_400;

export const suspend: ObligationType<SuspendRequest> = {
  type: "suspend",
  onEveryEffect: true,
  defaultReason: reason("principal_suspended", "Suspended by policy."),
  parse: (fields) => {
    const target = fields.oneOf("target", SUSPENSION_KINDS, "agent");
    const seconds = fields.positiveInteger("seconds");
    if (seconds > MAX_SECONDS) fields.invalid("seconds", `at most ${MAX_SECONDS} (a day)`);
    if (fields.has("after") !== fields.has("window")) fields.invalid(fields.has("after") ? "window" : "after", "set together with the other (after, window)");
    return { target, seconds, ...(fields.has("after") ? { after: { limit: fields.positiveInteger("after"), window: fields.window("window") } } : {}) };
  },
  summary: (request) => ({
    target: request.target,
    seconds: request.seconds,
    ...(request.after ? { after: request.after.limit, window: windowLabel(request.after.window) } : {}),
  }),
  explain: (request) =>
    `suspend the ${request.target} for ${request.seconds}s` +
    (request.after ? ` once more than ${request.after.limit} per ${windowLabel(request.after.window)} on ${request.key.join("/")}` : ""),
  async apply(request, ports, { nowMs, holder, principal }) {
    let total = 0;
    if (request.after) {
      const counted = await ports.counters.reserve(request.key, request.after.window, 1, request.after.limit, {
        nowMs,
        holder,
        type: "suspend",
        forGood: true,
      });
      // Counted for good (no holding): a decision stays counted whatever became of its action, so neither a
      // rollback of its other obligations nor a Release (even of a denial) takes it out of the brake's count, nor
      // the undo of a count that landed after its deadline (forGood): the brake fires sooner, never later.
      if (counted.ok) return { applied: shown(request, counted.total, "counted") };
      total = request.after.limit + 1;
    }
    // A brake that fired stays (no holding): giving back a suspension is for people (verdict resume).
    const target = principal ? targetOf(request.target, principal) : undefined;
    if (!ports.suspensions || !target) return { applied: shown(request, total, "not_suspended") };
    const status = await ports.suspensions.suspend({
      target,
      seconds: request.seconds,
      reason: request.reason.message,
      decisionId: holder.decisionId,
      api: holder.api,
      nowMs,
    });
    return { applied: shown(request, total, status) };
  },
  // A dry run never suspends, and a brake never refuses: it says so and counts nothing.
  preview: (request) => Promise.resolve({ applied: shown(request, 0, "dry_run"), claim: { id: `suspend ${storageKey(request.key)}`, amount: 0 } }),
};

function shown(request: SuspendRequest, total: number, status: string) {
  return {
    type: "suspend",
    key: storageKey(request.key),
    amount: 1,
    limit: request.after?.limit ?? 0,
    window: request.after ? windowLabel(request.after.window) : "",
    total,
    details: { target: request.target, seconds: request.seconds, status },
  };
}

/** The part of the principal the policy named; undefined when the token lacks it (no jti, no sid). */
function targetOf(kind: SuspensionKind, principal: PrincipalIds): SuspensionTarget | undefined {
  const issuer = principal.issuer;
  switch (kind) {
    case "agent":
      return { kind, issuer, client_id: principal.client_id };
    case "user":
      return { kind, issuer, subject: principal.subject };
    case "delegation":
      return { kind, issuer, subject: principal.subject, client_id: principal.client_id };
    case "token":
      return principal.token_id !== undefined ? { kind, issuer, token_id: principal.token_id } : undefined;
    case "session":
      return principal.session_id !== undefined ? { kind, issuer, session_id: principal.session_id } : undefined;
  }
}
