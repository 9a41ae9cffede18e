import type { CryptoKey, JWSHeaderParameters, KeyObject } from "jose";

/** Where an issuer's verification keys come from. */
export interface KeySource {
  /** The key for this header; throws jose's JWKSNoMatchingKey or a TokenError. */
  getKey(header: JWSHeaderParameters): Promise<CryptoKey | KeyObject>;
}
