// What `npm start` (verdict serve --profile dev) and `verdict dev-token` need: the
// development issuer and API keys, the dev profile, the development authorization
// server for MCP clients, and the pinned local-mongo.
export { DEV_API_AUDIENCE, DEV_API_NAME, devApiKeyPath, ensureDevApiKey } from "./api-key.js";
export { DEV_ALGORITHM, DEV_ISSUER, devIssuerJwksPath, mintDevToken, writeDevIssuerJwks, type DevTokenOptions } from "./issuer.js";
export { localMongoAvailable, startLocalMongo, startServerProcess, type MongoServerProcess } from "./mongo-server.js";
export { demoPolicyAcrLevels, demoPolicyScopes, devConfig, type DevProfileOptions } from "./profile.js";
export { DEV_CONSOLE_OPERATOR, devConsoleSignIn } from "./console.js";
export { DEV_MCP_API_NAME, DEV_MCP_RESOURCE, devMcpApiKeyPath, ensureDevMcpApiKey } from "./mcp-api.js";
export * from "./authorization-server/index.js";
