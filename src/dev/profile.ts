// `verdict serve --profile dev` (npm start): the demo policies, the development
// issuer and one development API, on 127.0.0.1:50051.
import { buildConfig, type Config, type ConfigFile, type Environment } from "../config/index.js";
import { hashApiKey } from "../server/index.js";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { defaultPolicyDir } from "../paths.js";
import { DEV_API_AUDIENCE, DEV_API_NAME, ensureDevApiKey } from "./api-key.js";
import { DEV_ALGORITHM, DEV_ISSUER, writeDevIssuerJwks } from "./issuer.js";

export async function devConfig(env: Environment, stateDir: string, overrides: Record<string, unknown> = {}): Promise<{ config: Config; apiKey: string }> {
  const apiKey = ensureDevApiKey(stateDir);
  const file: ConfigFile = {
    listen: "127.0.0.1:50051",
    issuers: [{ issuer: DEV_ISSUER, jwks_file: await writeDevIssuerJwks(stateDir), algorithms: [DEV_ALGORITHM] }],
    apis: [{ name: DEV_API_NAME, audience: DEV_API_AUDIENCE, key_sha256: hashApiKey(apiKey), scopes: demoPolicyScopes() }],
  };
  return { config: buildConfig(file, { baseDir: stateDir, env, profile: "dev", overrides }), apiKey };
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
