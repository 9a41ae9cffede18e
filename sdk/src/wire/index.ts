// @verdict/sdk/wire: the wire contract as both the SDK and the server use it — the
// message types and gRPC service definitions generated from proto/verdict/v1 by
// ts-proto (sdk/gen; field names as in the .proto, enums as strings, Struct fields
// as plain JSON objects), the metadata and service names, and the reason codes.
export {
  ApprovalServiceClient,
  ApprovalServiceService,
  AuditServiceClient,
  AuditServiceService,
  Decision,
  PolicyDecisionServiceClient,
  PolicyDecisionServiceService,
  type ApprovalServiceServer,
  type AuditServiceServer,
  type PolicyDecisionServiceServer,
  type Actor as ActorMessage,
  type Approval as ApprovalMessage,
  type ApprovalDecider as ApprovalDeciderMessage,
  type Approver as ApproverMessage,
  type DecideApprovalRequest as DecideApprovalRequestMessage,
  type GetApprovalRequest as GetApprovalRequestMessage,
  type ListApprovalsRequest as ListApprovalsRequestMessage,
  type ListApprovalsResponse as ListApprovalsResponseMessage,
  type AuditCaller as AuditCallerMessage,
  type AuditQueryRequest as AuditQueryRequestMessage,
  type AuditQueryResponse as AuditQueryResponseMessage,
  type BatchItem as BatchItemMessage,
  type BatchResult as BatchResultMessage,
  type Challenge as ChallengeMessage,
  type CheckBatchRequest as CheckBatchRequestMessage,
  type CheckBatchResponse as CheckBatchResponseMessage,
  type CheckRequest as CheckRequestMessage,
  type CheckResponse as CheckResponseMessage,
  type Decision as DecisionName,
  type DecisionRecord as DecisionRecordMessage,
  type DpopProof as DpopProofMessage,
  type Explanation as ExplanationMessage,
  type Obligation as ObligationMessage,
  type Principal as PrincipalMessage,
  type Reason as ReasonMessage,
  type ReleaseRequest as ReleaseRequestMessage,
  type ReleaseResponse as ReleaseResponseMessage,
  type Resource as ResourceMessage,
  type RuleHit as RuleHitMessage,
  type ShadowDecision as ShadowDecisionMessage,
} from "../../gen/verdict/v1/verdict.js";
export { API_KEY_METADATA, APPROVAL_SERVICE, AUDIT_SERVICE, POLICY_DECISION_SERVICE, TRACEPARENT_METADATA, TRACESTATE_METADATA } from "./constants.js";
export { isJsonObject, jsonObject, MAX_STRUCT_DEPTH, type JsonObject, type JsonValue } from "./json.js";
export * from "../reasons.js";
