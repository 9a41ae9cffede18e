import type { CryptoKey, JWSHeaderParameters, KeyObject } from "jose";

/** Where an issuer's verification keys come from. */
export interface KeySource {
  /** The key for this header; throws jose's JWKSNoMatchingKey or a TokenError. */
  getKey(header: JWSHeaderParameters): Promise<CryptoKey | KeyObject>;
  /**
   * Which key set getKey selects from: a number that changes when a refresh brings a
   * different set. Read on every verified-token cache hit, so it must be cheap and never
   * wait: a source whose keys are stale starts their refetch here, in the background.
   * Keys no longer usable without a refetch (past a remote set's stale grace) have a
   * generation no set has, so a cached token is verified from scratch.
   */
  generation(): number;
  /** The key for this header in the key set held now, never fetched; undefined when the set has none or is no longer usable. */
  currentKey(header: JWSHeaderParameters): Promise<CryptoKey | KeyObject | undefined>;
}
