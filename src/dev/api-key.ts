import { randomBytes } from "node:crypto";
import { join } from "node:path";
import { readOrCreateSecret } from "./files.js";

export const DEV_API_NAME = "dev-api";
export const DEV_API_AUDIENCE = "urn:verdict:dev-api";

/** A development API key kept in .verdict/`file` (mode 0600), created on first use as `prefix` + 24 random bytes. */
export function devKey(file: string, prefix: string): { path: (stateDir: string) => string; ensure: (stateDir: string) => string } {
  const path = (stateDir: string) => join(stateDir, file);
  return { path, ensure: (stateDir) => readOrCreateSecret(path(stateDir), () => `${prefix}${randomBytes(24).toString("base64url")}`).trim() };
}

const devApiKey = devKey("dev-api-key", "vdk_dev_");
export const devApiKeyPath = devApiKey.path;
/** The development API's key, created on first use. */
export const ensureDevApiKey = devApiKey.ensure;
