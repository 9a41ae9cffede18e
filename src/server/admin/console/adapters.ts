// The console's ports over the parts of issues 16 (suspensions) and 17 (approvals),
// typed by the shape the console uses of them (structural), so that start.ts wires
// each with one line once the part exists: `consoleSuspensions(suspensions)`,
// `consoleApprovals(approvals)`.
import type { ConsoleApproval, ConsoleApprovals, ConsoleSuspension, ConsoleSuspensions, Operator } from "./ports.js";

type Actor = { via: "http"; issuer?: string; subject?: string; client_id?: string; acr?: string };

interface SuspensionRecordLike {
  _id: string;
  target: { kind: string; client_id?: string; subject?: string };
  source: string;
  reason: string;
  since: Date;
  expires_at?: Date;
}

/** What the console uses of issue 16's Suspensions. */
export interface SuspensionsLike {
  add(request: { target: { kind: "agent"; client_id: string }; reason: string; by: Actor; source: string }): Promise<{ suspension: SuspensionRecordLike }>;
  remove(request: { target: { kind: "agent"; client_id: string }; reason?: string; by: Actor }): Promise<SuspensionRecordLike[]>;
  list(options: { kind?: "agent"; limit?: number }): Promise<SuspensionRecordLike[]>;
}

interface ApprovalViewLike {
  approval_id: string;
  status: string;
  api: string;
  issuer: string;
  subject: string;
  client_id: string;
  actors: { subject: string; client_id?: string }[];
  action: string;
  resource: { type: string; id: string };
  context: Record<string, unknown>;
  created_at: string;
  expires_at: string;
  acr_values: string[];
  max_age?: number;
  scopes: string[];
  decided_by?: { subject: string; acr?: string; via: string; at: string; reason?: string };
}

/** What the console uses of issue 17's Approvals. */
export interface ApprovalsLike {
  list(filter: { status?: "pending"; limit: number }): Promise<ApprovalViewLike[]>;
  decide(input: {
    approvalId: string;
    token: string;
    verdict: "approve" | "refuse";
    via: "http";
    operator: { issuer: string; subject: string; client_id: string };
    reason?: string;
  }): Promise<ApprovalViewLike>;
}

/** Who did it, as the audit event keeps it: never the token. */
function actorOf(operator: Operator): Actor {
  return {
    via: "http",
    issuer: operator.issuer,
    subject: operator.subject,
    client_id: operator.clientId,
    ...(operator.acr !== undefined ? { acr: operator.acr } : {}),
  };
}

function suspensionOf(record: SuspensionRecordLike): ConsoleSuspension {
  return {
    id: record._id,
    kind: record.target.kind,
    ...(record.target.client_id !== undefined ? { client_id: record.target.client_id } : {}),
    ...(record.target.subject !== undefined ? { subject: record.target.subject } : {}),
    reason: record.reason,
    source: record.source,
    since: record.since.toISOString(),
    ...(record.expires_at ? { until: record.expires_at.toISOString() } : {}),
  };
}

/** Operators suspend as the admin source (the same suspension AdminService makes); resuming lifts every source's. */
export function consoleSuspensions(suspensions: SuspensionsLike): ConsoleSuspensions {
  return {
    list: async (limit) => (await suspensions.list({ kind: "agent", limit })).map(suspensionOf),
    suspendAgent: async (clientId, reason, by) =>
      suspensionOf((await suspensions.add({ target: { kind: "agent", client_id: clientId }, reason, by: actorOf(by), source: "admin" })).suspension),
    resumeAgent: async (clientId, reason, by) => (await suspensions.remove({ target: { kind: "agent", client_id: clientId }, reason, by: actorOf(by) })).length,
  };
}

/** The fields the console shows, picked one by one: never the approval's URL, nor anything else its view carries. */
function approvalOf({ max_age, decided_by, ...view }: ApprovalViewLike): ConsoleApproval {
  const { approval_id, status, api, issuer, subject, client_id, actors, action, resource, context, created_at, expires_at, acr_values, scopes } = view;
  const shown = { approval_id, status, api, issuer, subject, client_id, actors, action, resource, context, created_at, expires_at, acr_values, scopes };
  return { ...shown, ...(max_age !== undefined ? { max_age } : {}), ...(decided_by ? { decided_by } : {}) };
}

export function consoleApprovals(approvals: ApprovalsLike): ConsoleApprovals {
  return {
    list: async (which, limit) =>
      which === "pending"
        ? (await approvals.list({ status: "pending", limit })).map(approvalOf)
        : // The history: the newest of every status but pending, from one bounded read.
          (await approvals.list({ limit })).filter((a) => a.status !== "pending").map(approvalOf),
    // the operator who passed the person's token on is in the audit event beside the person
    decide: async (id, outcome, approverToken, by, reason) =>
      approvalOf(
        await approvals.decide({
          approvalId: id,
          token: approverToken,
          verdict: outcome,
          via: "http",
          operator: { issuer: by.issuer, subject: by.subject, client_id: by.clientId },
          ...(reason ? { reason } : {}),
        }),
      ),
  };
}
