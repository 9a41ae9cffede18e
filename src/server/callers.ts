// Which API is calling. Each API presents its key in the x-verdict-api-key
// metadata; configuration holds only the key's SHA-256.
import { createHash } from "node:crypto";
import type { Metadata } from "@grpc/grpc-js";
import type { ApiConfig } from "../config/index.js";
import type { Caller } from "../decide/index.js";

export const API_KEY_HEADER = "x-verdict-api-key";

export class CallerRegistry {
  private readonly byKeyHash = new Map<string, Caller>();

  constructor(apis: readonly ApiConfig[]) {
    for (const api of apis) this.byKeyHash.set(api.keySha256, { name: api.name, audience: api.audience });
  }

  /** The caller whose key is in the metadata, or undefined when it is missing, repeated or unknown. */
  authenticate(metadata: Metadata): Caller | undefined {
    const values = metadata.get(API_KEY_HEADER);
    if (values.length !== 1 || typeof values[0] !== "string" || values[0].length === 0 || values[0].length > 512) return undefined;
    // A lookup by the key's hash: the hash is not secret, and comparing hashes
    // reveals nothing useful about the key through timing.
    return this.byKeyHash.get(hashApiKey(values[0]));
  }
}

export function hashApiKey(key: string): string {
  return createHash("sha256").update(key, "utf8").digest("hex");
}
