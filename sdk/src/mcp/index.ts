export { verdictMcpGuard, principalOf, type McpAuthInfo, type McpGuardOptions, type McpRequestLike, type McpStepUpNeed, type McpVerdict } from "./guard.js";
export { type McpCorsOptions } from "./http.js";
export { protectedResourceMetadata, type ProtectedResourceMetadata, type ProtectedResourceMetadataOptions } from "./metadata.js";
