import { readFileSync } from "node:fs";
import { createLocalJWKSet, type JSONWebKeySet } from "jose";
import { VerdictError } from "../../errors/index.js";
import type { KeySource } from "./source.js";

/** Keys from a JWKS file, read once at start. */
export function fileKeySource(path: string): KeySource {
  let jwks: JSONWebKeySet;
  try {
    jwks = JSON.parse(readFileSync(path, "utf8")) as JSONWebKeySet;
  } catch (error) {
    throw new VerdictError("config_invalid", `cannot read JWKS file ${path}: ${(error as Error).message}`);
  }
  if (!Array.isArray(jwks?.keys)) throw new VerdictError("config_invalid", `JWKS file ${path} has no "keys" array`);
  const select = createLocalJWKSet(jwks);
  return { getKey: (header) => select(header) };
}
