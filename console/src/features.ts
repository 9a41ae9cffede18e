// Suspensions (issue 16) and approvals (issue 17) as the console uses them: the only
// module the Agents page's suspend button and the Approvals inbox call. Verdict
// answers 501 not_available until those parts are wired into its console
// (Session.features says which are).
import { request, type Suspension } from "./api.js";

export interface Approval {
  id: string;
  status: string;
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

export const suspensions = {
  suspend: (clientId: string, reason: string) => request<{ suspension: Suspension }>("POST", `/agents/${encodeURIComponent(clientId)}/suspend`, { reason }),
  resume: (clientId: string, reason: string) => request<{ resumed: number }>("POST", `/agents/${encodeURIComponent(clientId)}/resume`, { reason }),
};

export const approvals = {
  list: (status: "pending" | "decided") => request<{ approvals: Approval[] }>("GET", `/approvals?status=${status}`),
  approve: (id: string, reason?: string) => request<{ approval: Approval }>("POST", `/approvals/${encodeURIComponent(id)}/approve`, reason ? { reason } : {}),
  refuse: (id: string, reason?: string) => request<{ approval: Approval }>("POST", `/approvals/${encodeURIComponent(id)}/refuse`, reason ? { reason } : {}),
};
