import type { IssuerConfig } from "./config.js";
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
  if (config.jwks_file !== undefined) keys = fileKeySource(config.jwks_file);
  else if (config.jwks_uri !== undefined) {
    keys = new RemoteJwks(config.jwks_uri, {
      refreshMs: config.jwks_refresh_seconds * 1000,
      staleGraceMs: config.jwks_stale_grace_seconds * 1000,
      cooldownMs: config.jwks_cooldown_seconds * 1000,
      timeoutMs: config.jwks_timeout_ms,
      ...(options.onJwksEvent ? { onEvent: options.onJwksEvent } : {}),
    });
  }
  const introspection = config.introspection
    ? new IntrospectionClient({
        endpoint: config.introspection.endpoint,
        clientId: config.introspection.client_id,
        clientSecret: config.introspection.client_secret,
        timeoutMs: config.introspection.timeout_ms,
        maxCacheMs: config.introspection.cache_max_seconds * 1000,
        maxEntries: options.introspectionCacheEntries ?? 10_000,
      })
    : undefined;
  return {
    issuer: config.issuer,
    algorithms: config.algorithms,
    allowUntypedJwt: config.allow_typ_jwt,
    ...(keys ? { keys } : {}),
    ...(introspection ? { introspection } : {}),
  };
}
