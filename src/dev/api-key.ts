import { randomBytes } from "node:crypto";
import { join } from "node:path";
import { readOrCreateSecret } from "./files.js";

export const DEV_API_NAME = "dev-api";
export const DEV_API_AUDIENCE = "urn:verdict:dev-api";


export function devApiKeyPath(stateDir: string): string {
  return join(stateDir, "dev-api-key");
}

/** The development API's key, created on first use (kept in .verdict/, mode 0600). */
export function ensureDevApiKey(stateDir: string): string {
  return readOrCreateSecret(devApiKeyPath(stateDir), () => `vdk_dev_${randomBytes(24).toString("base64url")}`).trim();
}
