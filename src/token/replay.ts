// A DPoP proof may be used once (RFC 9449 §11.1): its jti is remembered, per key,
// for as long as the proof could still be accepted. Where it is remembered is not
// the token layer's business: it is handed a ReplayGuard (the single-use key store).
import { TokenError } from "./errors.js";
import type { VerifiedProof } from "./dpop.js";
import { sha256Hex } from "./verify.js";

export interface ReplayGuard {
  /** True the first time `id` is used before `until`; false while an earlier use stands. */
  useOnce(id: string, until: Date, now: Date): Promise<boolean>;
  /** Reads only: true while `id` is used. */
  isConsumed(id: string, now: Date): Promise<boolean>;
}

/**
 * Uses the proof up, or throws TokenError dpop_replayed. A dry run writes nothing:
 * it sees a replay, but does not use the proof up. Errors of the guard (its store
 * unreachable) are the caller's to handle.
 */
export async function useProofOnce(proof: VerifiedProof, guard: ReplayGuard, { nowMs, dryRun }: { nowMs: number; dryRun: boolean }): Promise<void> {
  const id = `dpop/${proof.jkt}/${sha256Hex(proof.jti)}`;
  const now = new Date(nowMs);
  const first = dryRun ? !(await guard.isConsumed(id, now)) : await guard.useOnce(id, new Date(proof.rememberUntil * 1000), now);
  if (!first) throw new TokenError("dpop_replayed");
}
