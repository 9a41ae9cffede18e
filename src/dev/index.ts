export { DEV_API_AUDIENCE, DEV_API_NAME, devApiKeyPath, ensureDevApiKey } from "./api-key.js";
export { DEV_ALGORITHM, DEV_ISSUER, devIssuerJwksPath, ensureDevIssuerKey, mintDevToken, writeDevIssuerJwks, type DevTokenOptions } from "./issuer.js";
export { freePort, localMongoAvailable, mongodOnPath, startLocalMongo, startMongod, type MongoServerProcess } from "./mongo-server.js";
export { demoPolicyAcrLevels, demoPolicyScopes, devConfig, type DevProfileOptions } from "./profile.js";
export { DEV_MCP_API_NAME, DEV_MCP_RESOURCE, devMcpApiKeyPath, ensureDevMcpApiKey } from "./mcp-api.js";
export * from "./authorization-server/index.js";
