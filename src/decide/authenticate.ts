// The token stage: the token verified for the calling API and, for a
// sender-constrained token (cnf.jkt), its DPoP proof of possession, used at most
// once (the replay guard is the single-use key store).
import { useProofOnce, verifyDpopProof, type DpopOptions, type ReplayGuard, type TokenVerifier, type VerifiedToken } from "../token/index.js";
import type { CheckCommon } from "./types.js";

export interface AuthenticateDeps {
  verifier: TokenVerifier;
  dpop: DpopOptions;
  replay: ReplayGuard;
}

/** Throws TokenError (or the replay guard's StateUnavailableError). */
export async function authenticate(common: CheckCommon, nowMs: number, decisionId: string, { verifier, dpop, replay }: AuthenticateDeps): Promise<VerifiedToken> {
  const now = nowMs / 1000;
  const verified = await verifier.verify(common.token, { audience: common.caller.audience, knownScopes: common.caller.scopes, unknownScopes: common.caller.unknownScopes, now });
  const jkt = verified.principal.confirmationJkt;
  if (jkt !== undefined) {
    const proof = await verifyDpopProof(common.dpop, common.token, jkt, now, dpop);
    await useProofOnce(proof, replay, { nowMs, decisionId, dryRun: common.dryRun });
  }
  return verified;
}
