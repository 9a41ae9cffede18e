// Suspensions (issue 16) and approvals (issue 17) as the console uses them: the only
// module the Agents page's suspend button and the Approvals inbox call. Verdict
// answers 501 not_available until those parts are wired into its console
// (Session.features says which are).
import { request, type Suspension } from "./api.js";

export interface Approval {
  approval_id: string;
  status: string;
  api: string;
  issuer: string;
  subject: string;
  client_id: string;
  /** The chain of agents it asked through (RFC 8693 act), outermost (current) actor first; empty when it acted directly. */
  actors: { subject: string; client_id?: string; iss?: string }[];
  action: string;
  resource: { type: string; id: string };
  context: Record<string, unknown>;
  created_at: string;
  expires_at: string;
  acr_values: string[];
  max_age?: number;
  /** Scopes the deciding person's token must carry (empty: any). */
  scopes: string[];
  decided_by?: { subject: string; acr?: string; via: string; at: string; reason?: string };
}

export const suspensions = {
  suspend: (clientId: string, reason: string) => request<{ suspension: Suspension }>("POST", `/agents/${encodeURIComponent(clientId)}/suspend`, { reason }),
  resume: (clientId: string, reason: string) => request<{ resumed: number }>("POST", `/agents/${encodeURIComponent(clientId)}/resume`, { reason }),
};

export const approvals = {
  list: (status: "pending" | "decided") => request<{ approvals: Approval[] }>("GET", `/approvals?status=${status}`),
  /** Decided with the approver's own access token (for the API, with the acr and freshness the approval asks for). */
  decide: (id: string, outcome: "approve" | "refuse", approverToken: string, reason?: string) =>
    request<{ approval: Approval }>("POST", `/approvals/${encodeURIComponent(id)}/${outcome}`, {
      approver_token: approverToken,
      ...(reason ? { reason } : {}),
    }),
};
