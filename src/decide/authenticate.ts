// The token stage: the token verified for the calling API and, for a
// sender-constrained token (cnf.jkt), its DPoP proof of possession, used at most
// once (the replay guard is the single-use key store). For AuthZEN, also the
// subject the calling PEP names: a token's `sub` must be that subject; without a
// token, an API that vouches for its users (authzen.apis[].trust_asserted_subjects)
// has its word taken, with a principal that carries no token evidence.
import {
  TokenError,
  useProofOnce,
  verifyDpopProof,
  type DpopOptions,
  type Principal,
  type ReplayGuard,
  type TokenVerifier,
  type VerifiedToken,
} from "../token/index.js";
import type { Caller, CheckCommon } from "./types.js";

export interface AuthenticateDeps {
  verifier: TokenVerifier;
  dpop: DpopOptions;
  replay: ReplayGuard;
}

/** Who the decision is for: a verified token's principal, or a subject the caller vouches for (no token, so no token hash). */
export type Authenticated = Pick<VerifiedToken, "principal"> & { tokenHash?: string; via?: VerifiedToken["via"] };

/** The issuer policies see for a PEP-asserted subject (`input.principal.issuer`). */
export const ASSERTED_ISSUER = "urn:verdict:authzen:asserted";

/** Throws TokenError (or the replay guard's StateUnavailableError). */
export async function authenticate(common: CheckCommon, nowMs: number, { verifier, dpop, replay }: AuthenticateDeps): Promise<Authenticated> {
  const now = nowMs / 1000;
  if (common.token === "" && common.subject !== undefined && common.caller.trustsAssertedSubjects === true) {
    return { principal: assertedPrincipal(common.subject, common.caller, now) };
  }
  const verified = await verifier.verify(common.token, {
    audience: common.caller.audience,
    knownScopes: common.caller.scopes,
    unknownScopes: common.caller.unknownScopes,
    now,
  });
  if (common.subject !== undefined && verified.principal.subject !== common.subject) throw new TokenError("subject_mismatch");
  const jkt = verified.principal.confirmationJkt;
  if (jkt !== undefined) {
    const proof = await verifyDpopProof(common.dpop, common.token, jkt, now, dpop);
    await useProofOnce(proof, replay, { nowMs, dryRun: common.dryRun });
  }
  return verified;
}

/**
 * The principal of an AuthZEN decision made without a token: believed only because
 * the API is configured to vouch for its users. No scopes, no acr, no token claims,
 * so a rule that needs any token evidence still denies.
 */
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
