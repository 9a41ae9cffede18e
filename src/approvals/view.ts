// An approval as people and tools see it (ApprovalService, the HTTP routes, the CLI):
// what the user is asked about, who may decide, and what became of it.
import type { JsonObject } from "@verdict/sdk/wire";
import type { Approver } from "../contract/index.js";
import type { ActorEntry } from "../token/index.js";
import { chainOf } from "./binding.js";
import { statusAt, type ApprovalDoc, type ApprovalStatus } from "./store.js";

export interface ApprovalView {
  approval_id: string;
  status: ApprovalStatus;
  api: string;
  issuer: string;
  subject: string;
  client_id: string;
  /** The chain of agents the request came through (RFC 8693 act), outermost (current) actor first; empty when none. */
  actors: ActorEntry[];
  action: string;
  resource: { type: string; id: string };
  /** The values of the bound fields, as they were asked about. */
  context: JsonObject;
  fields: string[];
  context_digest: string;
  created_at: string;
  expires_at: string;
  approval_url: string;
  acr_values: string[];
  max_age?: number;
  /** Scopes the deciding token must carry (empty: any). */
  scopes: string[];
  approvers: Approver[];
  requested_by_decision: string;
  consumed_by_decision?: string;
  decided_by?: { issuer: string; subject: string; client_id?: string; acr?: string; via: string; at: string; reason?: string };
  authorization_details: JsonObject[];
}

export function viewOf(doc: ApprovalDoc, url: string, now: Date): ApprovalView {
  const decided = doc.decided_by;
  return {
    approval_id: doc._id,
    status: statusAt(doc, now),
    api: doc.api,
    issuer: doc.issuer,
    subject: doc.subject,
    client_id: doc.client_id,
    actors: chainOf(doc),
    action: doc.action,
    resource: { type: doc.resource.type, id: doc.resource.id },
    context: JSON.parse(doc.bound) as JsonObject,
    fields: doc.fields,
    context_digest: doc.digest,
    created_at: doc.created_at.toISOString(),
    expires_at: doc.expires_at.toISOString(),
    approval_url: url,
    acr_values: doc.acr_values,
    ...(doc.max_age !== undefined ? { max_age: doc.max_age } : {}),
    scopes: doc.scopes ?? [],
    approvers: doc.approvers,
    requested_by_decision: doc.requested_by,
    ...(doc.consumed_by !== undefined ? { consumed_by_decision: doc.consumed_by } : {}),
    ...(decided ? { decided_by: { ...decided, at: decided.at.toISOString() } } : {}),
    authorization_details: doc.authorization_details,
  };
}
