// The development profile's second API: an MCP server (examples/mcp-server) whose
// audience is the URL MCP clients use for it, as RFC 8707 and the MCP authorization
// specification require (the token's aud is the MCP server's canonical URI).
import { randomBytes } from "node:crypto";
import { join } from "node:path";
import { readOrCreateSecret } from "./files.js";

export const DEV_MCP_API_NAME = "dev-mcp";
/** examples/mcp-server's endpoint; `verdict serve --profile dev --mcp-resource URL` changes it. */
export const DEV_MCP_RESOURCE = "http://127.0.0.1:3001/mcp";

export function devMcpApiKeyPath(stateDir: string): string {
  return join(stateDir, "dev-mcp-api-key");
}

/** The MCP example's key to Verdict, created on first use (kept in .verdict/, mode 0600). */
export function ensureDevMcpApiKey(stateDir: string): string {
  return readOrCreateSecret(devMcpApiKeyPath(stateDir), () => `vdk_dev_mcp_${randomBytes(24).toString("base64url")}`).trim();
}
