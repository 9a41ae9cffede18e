// The input document every policy sees (docs/policies.md). Snake_case, like the wire.
import type { JsonObject } from "@verdict/sdk/wire";
import { actorsOf, type ActorEntry, type Principal } from "../token/index.js";

export interface PolicyPrincipal {
  subject: string;
  client_id: string;
  client_type: string;
  actors: ActorEntry[];
  delegation_depth: number;
  scopes: string[];
  acr?: string;
  auth_time?: number;
  issuer: string;
  token_id?: string;
  session_id?: string;
  expires_at: number;
  issued_at?: number;
  /** RFC 9396: what the user authorized (absent when the token carries none). */
  authorization_details?: JsonObject[];
}

export interface PolicyInput {
  action: string;
  resource: { type: string; id: string; attributes: JsonObject };
  context: JsonObject;
  principal: PolicyPrincipal;
  caller: { api: string; audience: string };
  /** Results of the declared state queries, by name ({} when none were declared). */
  state: JsonObject;
  /** Seconds since the epoch, fixed for the whole decision. */
  now: number;
  /** Present for the items of a CheckBatch: the batch as a whole, so a bulk operation can be judged as one. */
  batch?: BatchInfo;
  /** Present only for AuthZEN evaluations (docs/authzen.md): the entities as the PEP named them. */
  authzen?: AuthzenEntities;
  /**
   * Present only when the principal is suspended and the bundle lets its policy
   * decide for suspended principals (docs/suspensions.md): what is suspended, why, until when.
   */
  suspension?: JsonObject;
}

/** An AuthZEN subject or resource, with the directory's properties merged under the request's. */
export interface AuthzenEntity {
  type: string;
  id: string;
  properties: JsonObject;
  /** Whether the directory knows it. */
  known: boolean;
}

export interface AuthzenEntities {
  subject: AuthzenEntity;
  resource: AuthzenEntity;
  action: { name: string; properties: JsonObject; known: boolean };
}

export interface BatchInfo {
  /** Items in the batch (the valid ones). */
  size: number;
  /** This item's position among them, from 0. */
  index: number;
  /** How many items of the batch ask for each action. */
  actions: Record<string, number>;
}

/**
 * The input of each item of a Check or batch (the same principal, caller and time
 * for all); the items of a batch also see the batch as a whole (input.batch).
 */
export function policyInputs<Check extends Pick<PolicyInput, "action" | "resource" | "context">>(
  checks: readonly Check[],
  principal: Principal,
  caller: { name: string; audience: string },
  nowMs: number,
  batch: boolean,
): (check: Check, index: number) => PolicyInput {
  // Counted in a Map: an action may be named like an Object.prototype member ("constructor", "toString").
  const counted = new Map<string, number>();
  for (const check of checks) counted.set(check.action, (counted.get(check.action) ?? 0) + 1);
  const actions = Object.fromEntries(counted);
  const shared = { principal: policyPrincipal(principal), caller: { api: caller.name, audience: caller.audience }, now: Math.floor(nowMs / 1000) };
  return (check, index) => ({ ...check, ...shared, state: {}, ...(batch ? { batch: { size: checks.length, index, actions } } : {}) });
}

export function policyPrincipal(principal: Principal): PolicyPrincipal {
  return {
    subject: principal.subject,
    client_id: principal.clientId,
    client_type: principal.clientType,
    actors: actorsOf(principal),
    delegation_depth: principal.delegationDepth,
    scopes: principal.scopes,
    ...(principal.acr !== undefined ? { acr: principal.acr } : {}),
    ...(principal.authTime !== undefined ? { auth_time: principal.authTime } : {}),
    issuer: principal.issuer,
    ...(principal.tokenId !== undefined ? { token_id: principal.tokenId } : {}),
    ...(principal.sessionId !== undefined ? { session_id: principal.sessionId } : {}),
    expires_at: principal.expiresAt,
    ...(principal.issuedAt !== undefined ? { issued_at: principal.issuedAt } : {}),
    ...(principal.authorizationDetails !== undefined ? { authorization_details: principal.authorizationDetails } : {}),
  };
}
