export { DEV_API_AUDIENCE, DEV_API_NAME, devApiKeyPath, ensureDevApiKey } from "./api-key.js";
export { DEV_ALGORITHM, DEV_ISSUER, devIssuerJwksPath, ensureDevIssuerKey, mintDevToken, writeDevIssuerJwks, type DevTokenOptions } from "./issuer.js";
export { freePort, localMongoAvailable, mongodOnPath, startLocalMongo, startMongod, type MongoServerProcess } from "./mongo-server.js";
export { demoPolicyScopes, devConfig } from "./profile.js";
