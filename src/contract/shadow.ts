// Shadow evaluation's records: what one bundle said, and a disagreement between the
// active and the shadow bundle, as decide/ produces them and a store keeps them.
import type { Reason } from "@verdict/sdk/wire";

export type Effect = "allow" | "deny" | "step_up";

/** What one bundle said, as recorded and compared (the policy's answer, before obligations). */
export interface PolicyVerdict {
  revision: string;
  effect: Effect;
  reasons: Reason[];
  obligations: Record<string, unknown>[];
  /** Set when the bundle failed to evaluate (its effect is then deny, reason policy_error). */
  error?: string;
}

export type Difference = "effect" | "reasons" | "obligations";

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
  active: PolicyVerdict;
  shadow: PolicyVerdict;
}

/** Where disagreements go; recording never throws and never makes a decision wait. */
export interface DisagreementRecorder {
  record(disagreement: Disagreement): void;
}
