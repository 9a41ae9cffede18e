import { TOKEN_REASONS, type TokenReasonCode } from "../reasons/index.js";

/**
 * Why a token was refused. `code` is the stable reason; `message` is safe to show
 * to the client (it never quotes the token or its claims' values).
 */
export class TokenError extends Error {
  constructor(
    readonly code: TokenReasonCode,
    message: string = TOKEN_REASONS[code],
  ) {
    super(message);
    this.name = "TokenError";
  }
}
