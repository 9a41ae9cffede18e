// What the console's pages ask of other parts of Verdict, as small ports: the parts
// are wired in start.ts when they exist (suspensions, issue 16; approvals, issue 17);
// a console without one answers its routes with `not_available`.
import type { AuditStore } from "../../../audit/index.js";
import type { PolicyRuntime } from "../../../policy/index.js";
import type { TokenVerifier } from "../../../token/index.js";

/** The signed-in operator, from the verified token: never the token itself. */
export interface Operator {
  subject: string;
  clientId: string;
  issuer: string;
  acr?: string;
  /** Seconds since the epoch: when the operator last authenticated (for approvals' freshness). */
  authTime?: number;
  /** The console scopes the token carries. */
  scopes: string[];
}

export interface ConsoleSuspension {
  id: string;
  kind: string;
  client_id?: string;
  subject?: string;
  reason: string;
  source: string;
  /** RFC 3339 */
  since: string;
  until?: string;
}

export interface ConsoleSuspensions {
  list(limit: number): Promise<ConsoleSuspension[]>;
  suspendAgent(clientId: string, reason: string, by: Operator): Promise<ConsoleSuspension>;
  /** How many suspensions of the agent were lifted. */
  resumeAgent(clientId: string, reason: string, by: Operator): Promise<number>;
}

/** An approval as the inbox shows it: exactly what approving would allow, and what became of it. */
export interface ConsoleApproval {
  approval_id: string;
  /** pending, approved, refused, consumed, expired */
  status: string;
  api: string;
  issuer: string;
  /** The user the request was made for. */
  subject: string;
  /** The agent that asked. */
  client_id: string;
  /** The chain of agents it asked through (RFC 8693 act), outermost (current) actor first; empty when it acted directly. */
  actors: { subject: string; client_id?: string }[];
  action: string;
  resource: { type: string; id: string };
  /** The bound request fields (e.g. amount, currency) as they were asked about. */
  context: Record<string, unknown>;
  created_at: string;
  expires_at: string;
  /** What the deciding person's own authentication must be (acr, and freshness in seconds), and the scopes their token must carry. */
  acr_values: string[];
  max_age?: number;
  scopes: string[];
  decided_by?: { subject: string; acr?: string; via: string; at: string; reason?: string };
}

export interface ConsoleApprovals {
  /** Pending ones, or the history (every other status), newest first. */
  list(which: "pending" | "decided", limit: number): Promise<ConsoleApproval[]>;
  /**
   * Approves or refuses with the deciding person's own access token (the user the
   * request was for, or an approver the policy names; for the API's audience, with
   * the acr and freshness the approval asks for). Refusals are typed errors. `by`,
   * the operator who passed the token on, is kept in the audit event.
   */
  decide(id: string, outcome: "approve" | "refuse", approverToken: string, by: Operator, reason?: string): Promise<ConsoleApproval>;
}

/**
 * The parts the console reads, filled in as Verdict starts (the admin listener
 * serves before they exist); a route whose part is missing answers 503.
 */
export interface ConsoleParts {
  verifier?: TokenVerifier;
  audit?: AuditStore;
  policies?: PolicyRuntime;
  suspensions?: ConsoleSuspensions;
  approvals?: ConsoleApprovals;
}

/** The development profile's one-click sign-in: a short-lived development token with every console scope. */
export type DevSignIn = () => Promise<{ token: string; expiresIn: number }>;
