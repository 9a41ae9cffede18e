// What `npm start` (verdict serve --profile dev) and `verdict dev-token` need: the
// development issuer and API key, the dev profile, and the pinned local-mongo.
export { DEV_API_AUDIENCE, DEV_API_NAME, devApiKeyPath, ensureDevApiKey } from "./api-key.js";
export { DEV_ALGORITHM, DEV_ISSUER, devIssuerJwksPath, mintDevToken, writeDevIssuerJwks, type DevTokenOptions } from "./issuer.js";
export { localMongoAvailable, startLocalMongo, startServerProcess, type MongoServerProcess } from "./mongo-server.js";
export { demoPolicyScopes, devConfig } from "./profile.js";
