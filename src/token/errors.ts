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
