// `verdict serve --profile dev` (npm start): the demo policies, the development
// issuer and one development API, on 127.0.0.1:50051.
import { buildConfig, type Config, type ConfigFile, type Environment } from "../config/index.js";
import { hashApiKey } from "../server/index.js";
import { DEV_API_AUDIENCE, DEV_API_NAME, DEV_API_SCOPES, ensureDevApiKey } from "./api-key.js";
import { DEV_ALGORITHM, DEV_ISSUER, writeDevIssuerJwks } from "./issuer.js";

export async function devConfig(env: Environment, stateDir: string, listen = "127.0.0.1:50051"): Promise<{ config: Config; apiKey: string }> {
  const apiKey = ensureDevApiKey(stateDir);
  const file: ConfigFile = {
    listen,
    issuers: [{ issuer: DEV_ISSUER, jwks_file: await writeDevIssuerJwks(stateDir), algorithms: [DEV_ALGORITHM] }],
    apis: [{ name: DEV_API_NAME, audience: DEV_API_AUDIENCE, key_sha256: hashApiKey(apiKey), scopes: [...DEV_API_SCOPES] }],
  };
  return { config: buildConfig(file, { baseDir: stateDir, env, profile: "dev" }), apiKey };
}
