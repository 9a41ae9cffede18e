import { VerdictError } from "../errors/index.js";
import { TOKEN_REASONS, type TokenReasonCode } from "@verdict/sdk/wire";

/**
 * Why a token was refused. `reason` is the stable reason code of the DENY it
 * becomes; `message` is safe to show to the client (it never quotes the token or
 * its claims' values).
 */
export class TokenError extends VerdictError {
  constructor(
    readonly reason: TokenReasonCode,
    message: string = TOKEN_REASONS[reason],
  ) {
    super("invalid_token", message);
  }
}

/**
 * Refusals given before a token's signature verified (its shape, its header, the
 * issuer it names, the issuer's key, the signature itself): such a token's bytes were
 * never shown to come from a trusted issuer. Anyone can make one, so its hash names
 * nothing an issuer issued; the audit trail counts these per API and reason rather
 * than per token (audit/refusals.ts). Not here: claim_missing and claim_type_invalid
 * (iss is checked before the signature, every other claim after it), and every
 * refusal of a verified token (expired, audience, scopes, ...).
 */
export const UNVERIFIED_REFUSALS: ReadonlySet<TokenReasonCode> = new Set<TokenReasonCode>([
  "token_missing",
  "token_too_large",
  "token_malformed",
  "token_encrypted",
  "header_not_allowed",
  "claim_duplicate",
  "typ_invalid",
  "algorithm_not_allowed",
  "issuer_unknown",
  "key_not_found",
  "signature_invalid",
]);
