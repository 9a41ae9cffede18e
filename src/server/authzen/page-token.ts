// Search pagination tokens: opaque to the PEP, they hold where the enumeration
// resumes (the last id the previous page settled), the page size, and a hash of
// the request so that a follow-up that changes it is refused (spec: "PDPs SHOULD
// return an error when any entity or parameter has been changed"). They grant
// nothing: a forged position only changes where the scan starts, and every result
// is still evaluated.
import { createHash } from "node:crypto";
import { AuthzenError } from "./errors.js";

export type SearchKind = "subject" | "resource" | "action";

export interface PagePosition {
  kind: SearchKind;
  /** Resume after this id; null: from the start. */
  after: string | null;
  limit: number;
  requestHash: string;
}

const MAX_TOKEN_LENGTH = 2_048;

export function encodePageToken(position: PagePosition): string {
  const body = { v: 1, k: position.kind, a: position.after, l: position.limit, h: position.requestHash };
  return Buffer.from(JSON.stringify(body), "utf8").toString("base64url");
}

export function decodePageToken(token: string, kind: SearchKind): PagePosition {
  const invalid = () => new AuthzenError("invalid_page_token", "page.token is not a next_token this PDP returned for this search");
  if (token.length === 0 || token.length > MAX_TOKEN_LENGTH || !/^[A-Za-z0-9_-]+$/.test(token)) throw invalid();
  let body: unknown;
  try {
    body = JSON.parse(Buffer.from(token, "base64url").toString("utf8"));
  } catch {
    throw invalid();
  }
  if (typeof body !== "object" || body === null) throw invalid();
  const { v, k, a, l, h } = body as Record<string, unknown>;
  if (v !== 1 || k !== kind || !(a === null || typeof a === "string") || typeof l !== "number" || !Number.isInteger(l) || l < 0 || typeof h !== "string") {
    throw invalid();
  }
  return { kind, after: a, limit: l, requestHash: h };
}

/** A hash of a JSON value that does not depend on the order of object members. */
export function requestHash(value: unknown): string {
  return createHash("sha256").update(stableJson(value)).digest("base64url");
}

function stableJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(stableJson).join(",")}]`;
  if (value !== null && typeof value === "object") {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${stableJson(v)}`).join(",")}}`;
  }
  return JSON.stringify(value) ?? "null";
}
