import type { IssuerConfig } from "../config/index.js";
import { fileKeys, remoteKeys, type KeyResolver } from "./keys.js";

export interface TrustedIssuer {
  issuer: string;
  algorithms: readonly string[];
  keys: KeyResolver;
}

/** The issuers Verdict trusts, looked up by the exact `iss` string. */
export class IssuerRegistry {
  private readonly byIssuer = new Map<string, TrustedIssuer>();

  constructor(issuers: readonly TrustedIssuer[]) {
    for (const issuer of issuers) this.byIssuer.set(issuer.issuer, issuer);
  }

  static fromConfig(configs: readonly IssuerConfig[]): IssuerRegistry {
    return new IssuerRegistry(
      configs.map((config) => ({
        issuer: config.issuer,
        algorithms: config.algorithms,
        keys: config.jwksFile !== undefined ? fileKeys(config.jwksFile) : remoteKeys(config.jwksUri as string),
      })),
    );
  }

  find(iss: string): TrustedIssuer | undefined {
    return this.byIssuer.get(iss);
  }
}
