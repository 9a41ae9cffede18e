import { AdminServiceClient, ApprovalServiceClient, AuditServiceClient, PolicyDecisionServiceClient } from "../../gen/verdict/v1/verdict.js";

/** The gRPC metadata an API authenticates with (besides, or instead of, a client certificate). */
export const API_KEY_METADATA = "x-verdict-api-key";

/** W3C Trace Context (traceparent, tracestate) as gRPC metadata: Verdict's spans join the caller's trace. */
export const TRACEPARENT_METADATA = "traceparent";
export const TRACESTATE_METADATA = "tracestate";

/**
 * gRFC A6's server pushback, in the trailers of a call Verdict refused as overloaded
 * (RESOURCE_EXHAUSTED: nothing was decided or applied): milliseconds to wait before
 * sending it again.
 */
export const RETRY_PUSHBACK_METADATA = "grpc-retry-pushback-ms";

/** Full service names, as the health service and retry policies name them. */
export const POLICY_DECISION_SERVICE: string = PolicyDecisionServiceClient.serviceName;
export const AUDIT_SERVICE: string = AuditServiceClient.serviceName;
export const ADMIN_SERVICE: string = AdminServiceClient.serviceName;
export const APPROVAL_SERVICE: string = ApprovalServiceClient.serviceName;
