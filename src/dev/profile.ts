// `verdict serve --profile dev` (npm start): the demo policies, the development
// issuer and one development API, on 127.0.0.1:50051.
import { buildConfig, type Config, type ConfigFile, type Environment } from "../config/index.js";
import { API_GRANTS, hashApiKey } from "../server/index.js";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { defaultPolicyDir } from "../paths.js";
import { DEV_API_AUDIENCE, DEV_API_NAME, ensureDevApiKey } from "./api-key.js";
import { DEV_ALGORITHM, DEV_ISSUER, writeDevIssuerJwks } from "./issuer.js";
import { DEV_MCP_API_NAME, DEV_MCP_RESOURCE, ensureDevMcpApiKey } from "./mcp-api.js";

export interface DevProfileOptions {
  /** The development authorization server's issuer URL, trusted beside DEV_ISSUER (same key). */
  authorizationServer?: string;
  /** The MCP example's endpoint URL: the dev-mcp API's audience (default DEV_MCP_RESOURCE). */
  mcpResource?: string;
}

/** The dev profile's configuration; `overrides` (e.g. --listen) are validated with it. */
export async function devConfig(
  env: Environment,
  stateDir: string,
  overrides: Record<string, unknown> = {},
  dev: DevProfileOptions = {},
): Promise<{ config: Config; apiKey: string }> {
  const { authorizationServer } = dev;
  const apiKey = ensureDevApiKey(stateDir);
  const jwksFile = await writeDevIssuerJwks(stateDir);
  const issuers: ConfigFile["issuers"] = [{ issuer: DEV_ISSUER, jwks_file: jwksFile, algorithms: [DEV_ALGORITHM] }];
  if (authorizationServer) issuers.push({ issuer: authorizationServer, jwks_file: jwksFile, algorithms: [DEV_ALGORITHM] });
  const file: ConfigFile = {
    listen: "127.0.0.1:50051",
    issuers,
    apis: [
      { name: DEV_API_NAME, audience: DEV_API_AUDIENCE, key_sha256: hashApiKey(apiKey), scopes: demoPolicyScopes(), grants: [...API_GRANTS] },
      {
        name: DEV_MCP_API_NAME,
        audience: dev.mcpResource ?? DEV_MCP_RESOURCE,
        key_sha256: hashApiKey(ensureDevMcpApiKey(stateDir)),
        scopes: demoPolicyScopes(),
      },
    ],
  };
  return { config: buildConfig(file, { baseDir: stateDir, env, profile: "dev", overrides }), apiKey };
}

/** The demo policy's authentication levels (data.json settings.acr_levels): what the development authorization server offers. */
export function demoPolicyAcrLevels(policyDir: string = defaultPolicyDir): Record<string, number> {
  const data = JSON.parse(readFileSync(join(policyDir, "data.json"), "utf8")) as { settings?: { acr_levels?: Record<string, number> } };
  return data.settings?.acr_levels ?? {};
}

/**
 * Every scope the shipped policies' actions use (data.json settings.actions): the
 * development API knows exactly these, so tokens with any other are refused
 * (unknown_scope), as a production API's declared scopes would.
 */
export function demoPolicyScopes(policyDir: string = defaultPolicyDir): string[] {
  const data = JSON.parse(readFileSync(join(policyDir, "data.json"), "utf8")) as { settings?: { actions?: Record<string, { scopes?: string[] }> } };
  const scopes = Object.values(data.settings?.actions ?? {}).flatMap((action) => action.scopes ?? []);
  return [...new Set(scopes)].sort();
}
