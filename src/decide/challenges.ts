// What the client must do to be allowed, built here and nowhere else. Challenges
// have the wire's shape (snake_case) from the start, so the response, the audit
// record and an audit query carry them as they are.
import type { JsonObject } from "@verdict/sdk/wire";
import type { StepUp } from "../contract/index.js";
import type { Challenge } from "./types.js";

export function invalidTokenChallenge(dpop: boolean, description: string): Challenge {
  return { error: dpop ? "invalid_dpop_proof" : "invalid_token", scopes: [], acr_values: [], description };
}

export function insufficientScopeChallenge(scopes: string[]): Challenge {
  return { error: "insufficient_scope", scopes, acr_values: [], description: "The token lacks a scope this action needs." };
}

export function stepUpChallenge(stepUp: StepUp): Challenge {
  return {
    error: "insufficient_user_authentication",
    scopes: [],
    acr_values: stepUp.acrValues,
    ...(stepUp.maxAge !== undefined ? { max_age: stepUp.maxAge } : {}),
    description: "A stronger or more recent authentication of the user is required.",
  };
}

/** A person must approve this request; the client retries naming approval_id (absent in a dry run: nothing was kept). */
export function approvalChallenge(approval: {
  id?: string;
  url?: string;
  expiresAt: number;
  acrValues: string[];
  maxAge?: number;
  authorizationDetails: JsonObject[];
}): Challenge {
  return {
    error: "approval_required",
    scopes: [],
    acr_values: approval.acrValues,
    ...(approval.maxAge !== undefined ? { max_age: approval.maxAge } : {}),
    description: "The user must approve this request; retry it naming the approval once they have.",
    ...(approval.id !== undefined ? { approval_id: approval.id } : {}),
    ...(approval.url !== undefined ? { approval_url: approval.url } : {}),
    expires_at: approval.expiresAt,
    ...(approval.authorizationDetails.length > 0 ? { authorization_details: approval.authorizationDetails } : {}),
  };
}

/** RFC 9396: the token must carry these authorization details (the client asks its authorization server for them). */
export function insufficientAuthorizationChallenge(details: JsonObject[]): Challenge {
  return {
    error: "insufficient_authorization",
    scopes: [],
    acr_values: [],
    description: "The token's authorization_details do not cover this request.",
    authorization_details: details,
  };
}
