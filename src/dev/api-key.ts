import { randomBytes } from "node:crypto";
import { join } from "node:path";
import { readOrCreateSecret } from "./files.js";

export const DEV_API_NAME = "dev-api";
export const DEV_API_AUDIENCE = "urn:verdict:dev-api";
/** The scopes of the demo policies; tokens with others are refused (unknown_scope). */
export const DEV_API_SCOPES = ["invoices:read", "invoices:write", "payments:write"] as const;

export function devApiKeyPath(stateDir: string): string {
  return join(stateDir, "dev-api-key");
}

/** The development API's key, created on first use (kept in .verdict/, mode 0600). */
export function ensureDevApiKey(stateDir: string): string {
  return readOrCreateSecret(devApiKeyPath(stateDir), () => `vdk_dev_${randomBytes(24).toString("base64url")}`).trim();
}
