export { TokenError, UNVERIFIED_REFUSALS } from "./errors.js";
export { DPOP_ALGORITHMS, normalizeHtu, verifyDpopProof, type DpopOptions, type DpopRequest, type VerifiedProof } from "./dpop.js";
export { IntrospectionClient, type IntrospectionOptions } from "./introspection.js";
export { IssuerRegistry, type RegistryOptions, type TrustedIssuer } from "./issuers.js";
export { fileKeySource } from "./jwks/file.js";
export { RemoteJwks, type JwksEvent, type RemoteJwksOptions } from "./jwks/remote.js";
export type { KeySource } from "./jwks/source.js";
export { DuplicateMemberError, parseStrictJson } from "./json.js";
export { KEY_BEARING_HEADERS, parseJwt } from "./jwt.js";
export { useProofOnce, type ReplayGuard } from "./replay.js";
export {
  actorEntry,
  actorsOf,
  MAX_ACT_DEPTH,
  normalizeClientType,
  principalFromClaims,
  scopesOf,
  type Actor,
  type ActorEntry,
  type Principal,
} from "./principal.js";
export {
  sha256Hex,
  TokenVerifier,
  type VerifiedToken,
  type VerifierOptions,
  type VerifyContext,
  REPEAT_DELAY_MS,
  REFUSED_TTL_MS,
  REPEATS_KEPT_MS,
  REPEATS_BEFORE_DELAY,
  MAX_REPEAT_DELAY_MS,
  repeatDelayMs,
} from "./verify.js";
