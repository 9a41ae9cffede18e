import { createPublicKey, type JsonWebKey } from "node:crypto";
import { readFileSync } from "node:fs";
import { createLocalJWKSet, errors as joseErrors, type JSONWebKeySet } from "jose";
import { VerdictError } from "../../errors/index.js";
import type { KeySource } from "./source.js";

/**
 * Keys from a JWKS file, read once at start. Every key must be a usable public key
 * (RSA, EC or OKP: Verdict verifies asymmetric signatures only): a key that is not one
 * is refused now, by its place and kid, rather than failing every token it would sign.
 * The file is not read again, so its key set's generation never moves (a key removed
 * from it takes a restart, which empties the verified-token cache too).
 */
export function fileKeySource(path: string): KeySource {
  let jwks: JSONWebKeySet;
  try {
    jwks = JSON.parse(readFileSync(path, "utf8")) as JSONWebKeySet;
  } catch (error) {
    throw new VerdictError("config_invalid", `cannot read JWKS file ${path}: ${(error as Error).message}`);
  }
  if (!Array.isArray(jwks?.keys)) throw new VerdictError("config_invalid", `JWKS file ${path} has no "keys" array`);
  if (jwks.keys.length === 0) throw new VerdictError("config_invalid", `JWKS file ${path} has no keys`);
  for (const [index, key] of jwks.keys.entries()) {
    try {
      createPublicKey({ key: key as JsonWebKey, format: "jwk" });
    } catch (error) {
      const kid = typeof key?.kid === "string" ? ` (kid ${key.kid})` : "";
      throw new VerdictError("config_invalid", `JWKS file ${path}: keys[${index}]${kid} is not a usable public key: ${(error as Error).message}`);
    }
  }
  const select = createLocalJWKSet(jwks);
  return {
    getKey: (header) => select(header),
    generation: () => 0,
    currentKey: (header) =>
      select(header).catch((error: unknown) => {
        if (error instanceof joseErrors.JWKSNoMatchingKey) return undefined;
        throw error;
      }),
  };
}
