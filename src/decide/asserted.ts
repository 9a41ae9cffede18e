// The principal of an AuthZEN decision made without a token: the subject the calling
// PEP names, believed only because the API is configured to vouch for its users
// (authzen.apis[].trust_asserted_subjects). It carries no scopes, no acr and no
// token claims, so a rule that needs any token evidence still denies.
import type { Principal } from "../token/index.js";
import type { Caller } from "./types.js";

/** The issuer policies see for a PEP-asserted subject (`input.principal.issuer`). */
export const ASSERTED_ISSUER = "urn:verdict:authzen:asserted";

export function assertedPrincipal(subject: string, caller: Caller, nowSeconds: number): Principal {
  return {
    subject,
    clientId: caller.name,
    clientType: "",
    actors: [],
    delegationDepth: 0,
    scopes: [],
    issuer: ASSERTED_ISSUER,
    expiresAt: Math.floor(nowSeconds),
    audience: [caller.audience],
  };
}
