// Turns verified claims into the principal policies see and APIs receive.
import { isJsonObject, type JsonObject } from "@verdict/sdk/wire";
import type { JWTPayload } from "jose";
import { TokenError } from "./errors.js";

export interface Actor {
  subject: string;
  clientId?: string;
  /** The act claim's iss (RFC 8693 §4.1): the issuer the actor's subject is from, when the token says. */
  issuer?: string;
}

export interface Principal {
  subject: string;
  clientId: string;
  /** e.g. "ai-agent": trimmed, NFKC-normalised and lowercased; empty when the token does not say. */
  clientType: string;
  /** RFC 8693 act chain, outermost (current) actor first. */
  actors: Actor[];
  delegationDepth: number;
  scopes: string[];
  acr?: string;
  authTime?: number;
  issuer: string;
  tokenId?: string;
  /** The session the token belongs to (the sid claim, when the issuer puts one in access tokens): sessions can be suspended. */
  sessionId?: string;
  expiresAt: number;
  /** Absent only for introspected tokens whose issuer does not say. */
  issuedAt?: number;
  audience: string[];
  /** RFC 7800 cnf.jkt: the thumbprint of the key this token is bound to (DPoP). */
  confirmationJkt?: string;
  /** RFC 9396: what the user authorized (authorization_details), each an object with a string type. */
  authorizationDetails?: JsonObject[];
}

/** One actor of the act chain as policies, audit records and the wire name it. */
export interface ActorEntry {
  subject: string;
  /** Only when the token says. */
  client_id?: string;
  /** Only when the token says: a subject is only one actor within its issuer. */
  iss?: string;
}

/** The principal's act chain in snake_case, outermost (current) actor first: the one mapping every consumer shares. */
export function actorsOf(principal: Pick<Principal, "actors">): ActorEntry[] {
  return principal.actors.map((actor) => actorEntry({ subject: actor.subject, client_id: actor.clientId, iss: actor.issuer }));
}

/** An actor entry with only the fields it has (an absent one is left out, not undefined), copied from a record or request. */
export function actorEntry(actor: { subject: string; client_id?: string | undefined; iss?: string | undefined }): ActorEntry {
  return {
    subject: actor.subject,
    ...(actor.client_id !== undefined ? { client_id: actor.client_id } : {}),
    ...(actor.iss !== undefined ? { iss: actor.iss } : {}),
  };
}

/** Deeper chains than this are refused outright; policies set their own, lower, limit. */
export const MAX_ACT_DEPTH = 16;

export function principalFromClaims(claims: JWTPayload): Principal {
  const subject = requireString(claims, "sub");
  const clientId = requireString(claims, "client_id");
  const issuer = requireString(claims, "iss");
  // Whole seconds, rounded down (earlier: never longer-lived, never fresher): a NumericDate may have a fraction
  // (RFC 7519 §2), and the answer carries them as int64 (a fraction failed the Check after it was decided and applied).
  const expiresAt = Math.floor(requireNumber(claims, "exp"));
  const issuedAt = wholeSeconds(optionalNumber(claims, "iat"));
  const clientType = normalizeClientType(optionalString(claims, "client_type") ?? "");
  const acr = optionalString(claims, "acr");
  const authTime = wholeSeconds(optionalNumber(claims, "auth_time"));
  const tokenId = optionalString(claims, "jti");
  const sessionId = optionalString(claims, "sid");
  const actors = actorChain(claims["act"]);
  const confirmationJkt = confirmation(claims["cnf"]);
  const authorizationDetails = authorizationDetailsOf(claims["authorization_details"]);
  return {
    subject,
    clientId,
    clientType,
    actors,
    delegationDepth: actors.length,
    scopes: scopesOf(claims),
    ...(acr !== undefined ? { acr } : {}),
    ...(authTime !== undefined ? { authTime } : {}),
    issuer,
    ...(tokenId !== undefined ? { tokenId } : {}),
    ...(sessionId !== undefined ? { sessionId } : {}),
    expiresAt,
    ...(issuedAt !== undefined ? { issuedAt } : {}),
    audience: typeof claims.aud === "string" ? [claims.aud] : [...(claims.aud ?? [])],
    ...(confirmationJkt !== undefined ? { confirmationJkt } : {}),
    ...(authorizationDetails !== undefined ? { authorizationDetails } : {}),
  };
}

/** More entries than a person could have been asked to authorize at once. */
const MAX_AUTHORIZATION_DETAILS = 32;

/** RFC 9396 §2: an array of objects, each with a string `type` (the token's size bounds the rest). */
function authorizationDetailsOf(value: unknown): JsonObject[] | undefined {
  if (value === undefined) return undefined;
  if (!Array.isArray(value) || value.length > MAX_AUTHORIZATION_DETAILS) {
    throw new TokenError("claim_type_invalid", `authorization_details must be an array of at most ${MAX_AUTHORIZATION_DETAILS} objects (RFC 9396).`);
  }
  return value.map((entry) => {
    if (!isJsonObject(entry) || typeof entry["type"] !== "string" || entry["type"] === "") {
      throw new TokenError("claim_type_invalid", "Each authorization_details entry must be an object with a type string (RFC 9396).");
    }
    return entry;
  });
}

/**
 * One spelling per client type, so that policies compare exact strings: " AI-Agent",
 * "ai-agent " and "ＡＩ-agent" are all "ai-agent" (an agent that could dodge a rule
 * by its spelling would get a human's limits).
 */
export function normalizeClientType(value: string): string {
  return value.normalize("NFKC").trim().toLowerCase();
}

/**
 * RFC 7800: the key the token is bound to. Verdict enforces one confirmation method,
 * DPoP's jkt (RFC 9449); any other (x5t#S256 of RFC 8705 mutual TLS, jwk, jku, ...)
 * it cannot check (a Check carries no client certificate), so a cnf without jkt is
 * refused rather than read as a bearer token. Beside jkt, other members are
 * alternatives the issuer asserts: proving possession of the jkt key is enough.
 */
function confirmation(cnf: unknown): string | undefined {
  if (cnf === undefined) return undefined;
  if (typeof cnf !== "object" || cnf === null || Array.isArray(cnf)) throw new TokenError("claim_type_invalid", "The cnf claim must be an object.");
  const jkt = (cnf as Record<string, unknown>)["jkt"];
  if (jkt === undefined) {
    throw new TokenError(
      "confirmation_unsupported",
      "The token is bound to a key by a confirmation method Verdict cannot check (cnf without jkt); only DPoP (cnf.jkt) is enforced.",
    );
  }
  if (typeof jkt !== "string" || !/^[A-Za-z0-9_-]{43}$/.test(jkt))
    throw new TokenError("claim_type_invalid", "cnf.jkt must be a base64url SHA-256 thumbprint.");
  return jkt;
}

/** `scope` (space-delimited string, RFC 9068) or `scp` (array of strings). */
export function scopesOf(claims: JWTPayload): string[] {
  const scope = claims["scope"];
  const scp = claims["scp"];
  if (scope !== undefined && scp !== undefined) {
    throw new TokenError("claim_type_invalid", "The token carries both scope and scp.");
  }
  if (scope !== undefined) {
    if (typeof scope !== "string") throw new TokenError("claim_type_invalid", "The scope claim must be a space-delimited string.");
    return [...new Set(scope.split(" ").filter((s) => s.length > 0))];
  }
  if (scp !== undefined) {
    if (!Array.isArray(scp) || !scp.every((s) => typeof s === "string" && s.length > 0 && !s.includes(" "))) {
      throw new TokenError("claim_type_invalid", "The scp claim must be an array of scope strings.");
    }
    return [...new Set(scp as string[])];
  }
  return [];
}

function actorChain(act: unknown): Actor[] {
  const actors: Actor[] = [];
  let current = act;
  while (current !== undefined) {
    if (typeof current !== "object" || current === null || Array.isArray(current)) {
      throw new TokenError("claim_type_invalid", "The act claim must be an object.");
    }
    if (actors.length >= MAX_ACT_DEPTH) {
      throw new TokenError("claim_type_invalid", `The act chain is deeper than ${MAX_ACT_DEPTH}.`);
    }
    const record = current as Record<string, unknown>;
    const subject = record["sub"];
    const clientId = record["client_id"];
    const issuer = record["iss"];
    if (typeof subject !== "string" || subject.length === 0) {
      throw new TokenError("claim_type_invalid", "Each act claim needs a sub string.");
    }
    if (clientId !== undefined && typeof clientId !== "string") {
      throw new TokenError("claim_type_invalid", "An act claim's client_id must be a string.");
    }
    if (issuer !== undefined && (typeof issuer !== "string" || issuer.length === 0)) {
      throw new TokenError("claim_type_invalid", "An act claim's iss must be a non-empty string.");
    }
    actors.push({ subject, ...(clientId !== undefined ? { clientId } : {}), ...(issuer !== undefined ? { issuer } : {}) });
    current = record["act"];
  }
  return actors;
}

function requireString(claims: JWTPayload, name: string): string {
  const value = claims[name];
  if (value === undefined) throw new TokenError("claim_missing", `The token has no ${name} claim.`);
  if (typeof value !== "string" || value.length === 0) throw new TokenError("claim_type_invalid", `The ${name} claim must be a non-empty string.`);
  return value;
}

function requireNumber(claims: JWTPayload, name: string): number {
  const value = claims[name];
  if (value === undefined) throw new TokenError("claim_missing", `The token has no ${name} claim.`);
  if (typeof value !== "number" || !Number.isFinite(value)) throw new TokenError("claim_type_invalid", `The ${name} claim must be a number.`);
  return value;
}

function optionalString(claims: JWTPayload, name: string): string | undefined {
  const value = claims[name];
  if (value === undefined) return undefined;
  if (typeof value !== "string") throw new TokenError("claim_type_invalid", `The ${name} claim must be a string.`);
  return value;
}

function wholeSeconds(value: number | undefined): number | undefined {
  return value === undefined ? undefined : Math.floor(value);
}

function optionalNumber(claims: JWTPayload, name: string): number | undefined {
  const value = claims[name];
  if (value === undefined) return undefined;
  if (typeof value !== "number" || !Number.isFinite(value)) throw new TokenError("claim_type_invalid", `The ${name} claim must be a number.`);
  return value;
}
