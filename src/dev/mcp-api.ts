// The development profile's second API: an MCP server (examples/mcp-server) whose
// audience is the URL MCP clients use for it, as RFC 8707 and the MCP authorization
// specification require (the token's aud is the MCP server's canonical URI).
import { devKey } from "./api-key.js";

export const DEV_MCP_API_NAME = "dev-mcp";
/** examples/mcp-server's endpoint; `verdict serve --profile dev --mcp-resource URL` changes it. */
export const DEV_MCP_RESOURCE = "http://127.0.0.1:3001/mcp";

const devMcpKey = devKey("dev-mcp-api-key", "vdk_dev_mcp_");
export const devMcpApiKeyPath = devMcpKey.path;
/** The MCP example's key to Verdict, created on first use. */
export const ensureDevMcpApiKey = devMcpKey.ensure;
