export { verdictMcpGuard, principalOf, type McpAuthInfo, type McpGuardOptions, type McpRequestLike, type McpVerdict } from "./guard.js";
export { protectedResourceMetadata, type ProtectedResourceMetadata, type ProtectedResourceMetadataOptions } from "./metadata.js";
