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
  /**
   * For a signature the key getKey gave does not verify (an issuer may give a kid to a new key): the key for this
   * header in a set other than `generation` (the generation read before getKey), which is the set held if it has
   * moved on since, else a refetch's, when the source refetches and its budget allows; undefined when there is no
   * other set or it has no key for the header. Absent: the source's keys never change (a file).
   */
  newerKey?(header: JWSHeaderParameters, generation: number): Promise<CryptoKey | KeyObject | undefined>;
}
