import { readFileSync } from "node:fs";
import { createLocalJWKSet, type JSONWebKeySet } from "jose";
import type { KeySource } from "./source.js";

/** Keys from a JWKS file, read once at start. */
export function fileKeySource(path: string): KeySource {
  let jwks: JSONWebKeySet;
  try {
    jwks = JSON.parse(readFileSync(path, "utf8")) as JSONWebKeySet;
  } catch (error) {
    throw new Error(`cannot read JWKS file ${path}: ${(error as Error).message}`);
  }
  if (!Array.isArray(jwks?.keys)) throw new Error(`JWKS file ${path} has no "keys" array`);
  const select = createLocalJWKSet(jwks);
  return { getKey: (header) => select(header) };
}
