import { AuditServiceClient, PolicyDecisionServiceClient } from "../../gen/verdict/v1/verdict.js";

/** The gRPC metadata an API authenticates with (besides, or instead of, a client certificate). */
export const API_KEY_METADATA = "x-verdict-api-key";

/** Full service names, as the health service and retry policies name them. */
export const POLICY_DECISION_SERVICE: string = PolicyDecisionServiceClient.serviceName;
export const AUDIT_SERVICE: string = AuditServiceClient.serviceName;
