// The local development issuer: an ES256 key created on first use under the state
// directory (.verdict/, ignored by git), used by `verdict dev-token` to sign and by
// `verdict serve --profile dev` to verify. Never for production.
import { randomUUID } from "node:crypto";
import { join } from "node:path";
import { calculateJwkThumbprint, exportJWK, generateKeyPair, importJWK, SignJWT, type JWK } from "jose";
import { readOrCreateSecret, writeFileAtomically } from "./files.js";

export const DEV_ISSUER = "urn:verdict:dev-issuer";
export const DEV_ALGORITHM = "ES256";

export interface DevIssuerKey {
  privateJwk: JWK;
  publicJwk: JWK;
  kid: string;
}

export function devIssuerKeyPath(stateDir: string): string {
  return join(stateDir, "dev-issuer.private.jwk.json");
}

export function devIssuerJwksPath(stateDir: string): string {
  return join(stateDir, "dev-issuer.jwks.json");
}

export async function ensureDevIssuerKey(stateDir: string): Promise<DevIssuerKey> {
  // The key pair is made before the file exists; generating is cheap and only the
  // first writer's key is kept.
  const fresh = await generateKeyPair(DEV_ALGORITHM, { extractable: true });
  const freshJwk = await exportJWK(fresh.privateKey);
  const privateJwk = JSON.parse(readOrCreateSecret(devIssuerKeyPath(stateDir), () => JSON.stringify(freshJwk) + "\n")) as JWK;
  const { d: _secret, ...publicJwk } = privateJwk;
  const kid = await calculateJwkThumbprint(publicJwk);
  return { privateJwk, publicJwk: { ...publicJwk, kid, alg: DEV_ALGORITHM, use: "sig" }, kid };
}

/** Writes the public JWKS the dev profile's issuer entry points at; returns its path. */
export async function writeDevIssuerJwks(stateDir: string): Promise<string> {
  const key = await ensureDevIssuerKey(stateDir);
  const path = devIssuerJwksPath(stateDir);
  // Every process of `verdict serve --profile dev` writes it while the others may be reading it.
  writeFileAtomically(path, JSON.stringify({ keys: [key.publicJwk] }, null, 2) + "\n");
  return path;
}

export interface DevTokenOptions {
  /** Default DEV_ISSUER; the development authorization server signs as its URL. */
  issuer?: string;
  subject: string;
  clientId: string;
  scopes: string[];
  audience: string;
  acr?: string;
  authTime?: number;
  clientType?: string;
  ttlSeconds: number;
  /** RFC 8693 act chain, outermost (current) actor first. */
  actors?: { subject: string; clientId?: string }[];
  extraClaims?: Record<string, unknown>;
}

export async function mintDevToken(stateDir: string, options: DevTokenOptions): Promise<string> {
  const key = await ensureDevIssuerKey(stateDir);
  const signingKey = await importJWK(key.privateJwk, DEV_ALGORITHM);
  const now = Math.floor(Date.now() / 1000);
  const claims: Record<string, unknown> = {
    client_id: options.clientId,
    scope: options.scopes.join(" "),
    ...(options.clientType ? { client_type: options.clientType } : {}),
    ...(options.acr ? { acr: options.acr, auth_time: options.authTime ?? now } : {}),
    ...(options.actors?.length ? { act: actChain(options.actors) } : {}),
    ...options.extraClaims,
  };
  return new SignJWT(claims)
    .setProtectedHeader({ alg: DEV_ALGORITHM, typ: "at+jwt", kid: key.kid })
    .setIssuer(options.issuer ?? DEV_ISSUER)
    .setSubject(options.subject)
    .setAudience(options.audience)
    .setIssuedAt(now)
    .setExpirationTime(now + options.ttlSeconds)
    .setJti(randomUUID())
    .sign(signingKey);
}

function actChain(actors: { subject: string; clientId?: string }[]): Record<string, unknown> | undefined {
  const [first, ...rest] = actors;
  if (!first) return undefined;
  const nested = actChain(rest);
  return { sub: first.subject, ...(first.clientId ? { client_id: first.clientId } : {}), ...(nested ? { act: nested } : {}) };
}
