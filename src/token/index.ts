export { TokenError } from "./errors.js";
export { IssuerRegistry, type TrustedIssuer } from "./issuers.js";
export { fileKeys, remoteKeys, type KeyResolver } from "./keys.js";
export { MAX_ACT_DEPTH, principalFromClaims, scopesOf, type Actor, type Principal } from "./principal.js";
export { sha256Hex, TokenVerifier, type VerifiedToken, type VerifierOptions } from "./verify.js";
