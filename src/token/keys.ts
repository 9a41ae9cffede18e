// Where an issuer's verification keys come from: a JWKS file or a JWKS URL.
// Keys are only ever taken from these; a token's own jwk/jku/x5u/x5c headers are not.
import { readFileSync } from "node:fs";
import { createLocalJWKSet, createRemoteJWKSet, type JSONWebKeySet, type JWTVerifyGetKey } from "jose";

export type KeyResolver = JWTVerifyGetKey;

export function fileKeys(path: string): KeyResolver {
  let jwks: JSONWebKeySet;
  try {
    jwks = JSON.parse(readFileSync(path, "utf8")) as JSONWebKeySet;
  } catch (error) {
    throw new Error(`cannot read JWKS file ${path}: ${(error as Error).message}`);
  }
  if (!Array.isArray(jwks?.keys)) throw new Error(`JWKS file ${path} has no "keys" array`);
  return createLocalJWKSet(jwks);
}

export interface RemoteKeyOptions {
  /** How long fetched keys are trusted before a refetch (ms). */
  cacheMaxAgeMs?: number;
  /** At most one refetch per this period when a token names an unknown kid (ms). */
  cooldownMs?: number;
  timeoutMs?: number;
}

export function remoteKeys(uri: string, options: RemoteKeyOptions = {}): KeyResolver {
  return createRemoteJWKSet(new URL(uri), {
    cacheMaxAge: options.cacheMaxAgeMs ?? 10 * 60_000,
    cooldownDuration: options.cooldownMs ?? 30_000,
    timeoutDuration: options.timeoutMs ?? 5_000,
  });
}
