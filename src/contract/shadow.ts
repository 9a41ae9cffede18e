// Shadow evaluation's records: what one bundle said, and a disagreement between the
// active and the shadow bundle, as decide/ produces them and a store keeps them.
import type { JsonObject, JsonValue, Reason } from "@verdict/sdk/wire";

export type Effect = "allow" | "deny" | "step_up";

/** What one bundle said, as recorded and compared (the policy's answer, before obligations). */
export interface PolicyVerdict {
  revision: string;
  effect: Effect;
  reasons: Reason[];
  obligations: JsonObject[];
  /** Set when the bundle failed to evaluate (its effect is then deny, reason policy_error). */
  error?: string;
}

export type Difference = "effect" | "reasons" | "obligations";

/**
 * One field that differs between two answers (shadow evaluation: active → shadow;
 * replay: recorded → candidate). `field` is "effect", "reasons", an obligation
 * ("obligations[reserve payments:transfer/daily_per_user/alice]") or one of its
 * fields (the same, then ".limit"). Only `from`: removed; only `to`: added.
 */
export interface FieldChange {
  field: string;
  from?: JsonValue;
  to?: JsonValue;
}

/** One recorded disagreement. No token and no request context (it may hold personal data). */
export interface Disagreement {
  decisionId: string;
  at: Date;
  caller: string;
  action: string;
  resource: { type: string; id: string };
  subject: string;
  clientId: string;
  clientType: string;
  differs: Difference[];
  /** Field by field: the effect, each reason code added or removed, each obligation field (absent in records from before it was kept). */
  changes?: FieldChange[];
  active: PolicyVerdict;
  shadow: PolicyVerdict;
}

/** Where disagreements go; recording never throws and never makes a decision wait. */
export interface DisagreementRecorder {
  record(disagreement: Disagreement): void;
}
