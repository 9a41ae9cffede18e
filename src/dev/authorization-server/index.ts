// Development only: the OAuth authorization server `verdict serve --profile dev`
// runs on loopback beside gRPC, so MCP clients (and anything else that speaks OAuth)
// can get the same RFC 9068 tokens `verdict dev-token` mints. docs/development.md.
export { startDevAuthorizationServer, type DevAuthorizationServer, type DevAuthorizationServerOptions } from "./server.js";
export { devAuthorizationListen, removeDevAuthorizationFile, writeDevAuthorizationFile } from "./discovery-file.js";
