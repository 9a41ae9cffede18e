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

export interface ConsoleApproval {
  id: string;
  status: string;
  /** What approving would allow, as the request asked it. */
  action: string;
  resource: { type: string; id: string };
  subject: string;
  client_id: string;
  amount?: number;
  details?: Record<string, unknown>;
  requested_at: string;
  decided_at?: string;
  decided_by?: string;
  reason?: string;
}

export interface ConsoleApprovals {
  list(status: "pending" | "decided", limit: number): Promise<ConsoleApproval[]>;
  /** Refused (a typed error) when the operator's acr or its freshness is not what approving needs. */
  decide(id: string, outcome: "approve" | "refuse", by: Operator, reason?: string): Promise<ConsoleApproval>;
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
