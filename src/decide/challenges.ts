// What the client must do to be allowed, built here and nowhere else. Challenges
// have the wire's shape (snake_case) from the start, so the response, the audit
// record and an audit query carry them as they are.
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
