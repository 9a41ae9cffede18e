// The wire messages as they are decoded with PROTO_OPTIONS (proto field names,
// enums as strings, int64 as numbers, every field present).
import type { StructMessage } from "./struct.js";

export type DecisionName = "ALLOW" | "DENY" | "STEP_UP";

export interface ResourceMessage {
  type: string;
  id: string;
  attributes?: StructMessage | null;
}

export interface DpopProofMessage {
  proof: string;
  method: string;
  url: string;
}

export interface CheckRequestMessage {
  token: string;
  action: string;
  resource?: ResourceMessage | null;
  context?: StructMessage | null;
  request_id?: string;
  dpop?: DpopProofMessage | null;
  dry_run?: boolean;
  explain?: boolean;
}

export interface ReasonMessage {
  code: string;
  message: string;
}

export interface ChallengeMessage {
  error: string;
  scopes: string[];
  acr_values: string[];
  max_age?: number | null;
  description: string;
}

export interface ActorMessage {
  subject: string;
  client_id: string;
}

export interface PrincipalMessage {
  subject: string;
  client_id: string;
  client_type: string;
  actors: ActorMessage[];
  scopes: string[];
  acr: string;
  auth_time: number;
  issuer: string;
  token_id: string;
  expires_at: number;
  delegation_depth: number;
}

export interface ObligationMessage {
  type: string;
  key: string;
  amount: number;
  limit: number;
  window: string;
  total: number;
}

export interface RuleHitMessage {
  kind: string;
  rule: string;
  code: string;
  message: string;
}

export interface ShadowDecisionMessage {
  policy_revision: string;
  decision: DecisionName | "DECISION_UNSPECIFIED";
  reasons: ReasonMessage[];
  agrees: boolean;
}

export interface ExplanationMessage {
  rules: RuleHitMessage[];
  shadow: ShadowDecisionMessage | null;
}

export interface CheckResponseMessage {
  decision: DecisionName | "DECISION_UNSPECIFIED";
  reasons: ReasonMessage[];
  challenge: ChallengeMessage | null;
  principal: PrincipalMessage | null;
  obligations: ObligationMessage[];
  decision_id: string;
  policy_revision: string;
  /** Only when the request set explain. */
  explanation?: ExplanationMessage | null;
}

export interface ReleaseRequestMessage {
  decision_id: string;
}

export interface ReleaseResponseMessage {
  status: "released" | "already_released" | "unknown_decision" | string;
  released: ObligationMessage[];
}

export interface BatchItemMessage {
  action: string;
  resource?: ResourceMessage | null;
  context?: StructMessage | null;
}

export interface CheckBatchRequestMessage {
  token: string;
  items: BatchItemMessage[];
  request_id?: string;
  dpop?: DpopProofMessage | null;
  dry_run?: boolean;
}

export type BatchResultMessage =
  | { outcome?: "response"; response: CheckResponseMessage; error?: null }
  | { outcome?: "error"; error: ReasonMessage; response?: null };

export interface CheckBatchResponseMessage {
  results: BatchResultMessage[];
}

export interface AuditQueryRequestMessage {
  subject?: string;
  client_id?: string;
  action?: string;
  decision?: string;
  reason?: string;
  api?: string;
  since?: string;
  until?: string;
  limit?: number;
  page_token?: string;
}


export interface DecisionRecordMessage {
  decision_id: string;
  time: string;
  caller: { api: string; audience: string } | null;
  subject: string;
  client_id: string;
  client_type: string;
  actors: ActorMessage[];
  action: string;
  resource: ResourceMessage | null;
  context: StructMessage | null;
  decision: string;
  reasons: ReasonMessage[];
  challenge: ChallengeMessage | null;
  obligations: ObligationMessage[];
  policy_revision: string;
  shadow: ShadowDecisionMessage | null;
  latency_ms: number;
  request_id: string;
  token_id: string;
  token_sha256: string;
  dry_run: boolean;
  issuer: string;
  scopes: string[];
  acr: string;
  expires_at: string;
}

export interface AuditQueryResponseMessage {
  records: DecisionRecordMessage[];
  next_page_token: string;
}
