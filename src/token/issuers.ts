import type { IssuerConfig } from "../config/index.js";
import { IntrospectionClient } from "./introspection.js";
import { fileKeySource } from "./jwks/file.js";
import { RemoteJwks, type JwksEvent } from "./jwks/remote.js";
import type { KeySource } from "./jwks/source.js";

export interface TrustedIssuer {
  issuer: string;
  algorithms: readonly string[];
  /** Accept typ "JWT" or no typ (tokens from before RFC 9068). Insecure: logged at start. */
  allowUntypedJwt: boolean;
  /** Signed (JWT) access tokens are verified with these keys. */
  keys?: KeySource;
  /** Opaque access tokens are introspected here (RFC 7662). */
  introspection?: IntrospectionClient;
}

export interface RegistryOptions {
  onJwksEvent?: (event: JwksEvent) => void;
  introspectionCacheEntries?: number;
}

/** The issuers Verdict trusts, looked up by the exact `iss` string. */
export class IssuerRegistry {
  private readonly byIssuer = new Map<string, TrustedIssuer>();
  private readonly opaqueIssuer: TrustedIssuer | undefined;

  constructor(issuers: readonly TrustedIssuer[]) {
    for (const issuer of issuers) this.byIssuer.set(issuer.issuer, issuer);
    this.opaqueIssuer = issuers.find((issuer) => issuer.introspection !== undefined);
  }

  static fromConfig(configs: readonly IssuerConfig[], options: RegistryOptions = {}): IssuerRegistry {
    return new IssuerRegistry(configs.map((config) => trustedIssuer(config, options)));
  }

  find(iss: string): TrustedIssuer | undefined {
    return this.byIssuer.get(iss);
  }

  /** The issuer whose opaque tokens Verdict introspects (configuration allows at most one). */
  opaque(): TrustedIssuer | undefined {
    return this.opaqueIssuer;
  }
}

function trustedIssuer(config: IssuerConfig, options: RegistryOptions): TrustedIssuer {
  let keys: KeySource | undefined;
  if (config.jwksFile !== undefined) keys = fileKeySource(config.jwksFile);
  else if (config.jwksUri !== undefined) {
    keys = new RemoteJwks(config.jwksUri, {
      refreshMs: config.jwks.refreshSeconds * 1000,
      staleGraceMs: config.jwks.staleGraceSeconds * 1000,
      cooldownMs: config.jwks.cooldownSeconds * 1000,
      timeoutMs: config.jwks.timeoutMs,
      ...(options.onJwksEvent ? { onEvent: options.onJwksEvent } : {}),
    });
  }
  const introspection = config.introspection
    ? new IntrospectionClient({
        endpoint: config.introspection.endpoint,
        clientId: config.introspection.clientId,
        clientSecret: config.introspection.clientSecret,
        timeoutMs: config.introspection.timeoutMs,
        maxCacheMs: config.introspection.cacheMaxSeconds * 1000,
        maxEntries: options.introspectionCacheEntries ?? 10_000,
      })
    : undefined;
  return {
    issuer: config.issuer,
    algorithms: config.algorithms,
    allowUntypedJwt: config.allowUntypedJwt,
    ...(keys ? { keys } : {}),
    ...(introspection ? { introspection } : {}),
  };
}
