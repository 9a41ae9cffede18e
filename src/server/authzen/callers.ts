// Which PEP is calling: a registered API (src/server/callers.ts's registry), by its
// key in `Authorization` (as AuthZEN interop PEPs send it: the key itself, or
// "Bearer KEY") and/or its client certificate; then whether that API may use
// AuthZEN, and how (authzen.apis).
import type { TLSSocket } from "node:tls";
import type { AuthzenApiConfig } from "./config.js";
import type { CallerRegistry } from "../callers.js";
import { AuthzenError } from "./errors.js";
import type { Pep } from "./types.js";

export class PepRegistry {
  private readonly settings: Map<string, AuthzenApiConfig>;

  constructor(
    private readonly callers: CallerRegistry,
    apis: readonly AuthzenApiConfig[],
  ) {
    this.settings = new Map(apis.map((api) => [api.name, api]));
  }

  /** The PEP, or an AuthzenError (401 unauthenticated, 403 api_not_enabled). */
  authenticate(authorization: string | string[] | undefined, socket: unknown): Pep {
    if (Array.isArray(authorization)) throw new AuthzenError("unauthenticated", "Authorization sent more than once");
    const key = authorization === undefined ? undefined : /^bearer\s+/i.test(authorization) ? authorization.replace(/^bearer\s+/i, "") : authorization;
    const tls = socket as Partial<TLSSocket>;
    // Only a certificate that verified against the configured client CA counts.
    const peerCertificate = tls.authorized === true && typeof tls.getPeerCertificate === "function" ? tls.getPeerCertificate() : undefined;
    const authentication = this.callers.identify(key, peerCertificate);
    if (!authentication.ok)
      throw new AuthzenError("unauthenticated", `caller not authenticated: ${authentication.why.replace("x-verdict-api-key", "API key")}`);
    const settings = this.settings.get(authentication.caller.name);
    if (!settings) throw new AuthzenError("api_not_enabled", `API ${authentication.caller.name} is not enabled for AuthZEN (authzen.apis)`);
    return { caller: { ...authentication.caller, trustsAssertedSubjects: settings.trust_asserted_subjects }, settings };
  }
}
