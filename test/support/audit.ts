// Decision events as the pipeline hands them to the audit trail, for tests of the
// trail itself (record shape, masking, writer, queries).
import { randomUUID } from "node:crypto";
import type { JsonObject } from "@verdict/sdk/wire";
import type { DecisionEvent, DecisionResult } from "../../src/decide/index.js";
import type { Principal } from "../../src/token/index.js";

export const POLICY_DATA = {
  settings: {
    audit: {
      drop: ["context.**.password"],
      mask: ["context.**.card_number", "resource.attributes.email"],
      detect: ["card_number"],
    },
  },
};

export function principal(overrides: Partial<Principal> = {}): Principal {
  return {
    subject: "alice",
    clientId: "agent-1",
    clientType: "ai-agent",
    actors: [],
    delegationDepth: 0,
    scopes: ["invoices:read"],
    issuer: "https://issuer.test.example",
    tokenId: randomUUID(),
    expiresAt: 2_000_000_000,
    issuedAt: 1_700_000_000,
    audience: ["https://invoices.example"],
    ...overrides,
  };
}

export interface EventOptions {
  decision?: DecisionResult["decision"];
  reasons?: string[];
  principal?: Principal | null;
  action?: string;
  resource?: { type: string; id: string; attributes?: JsonObject };
  context?: JsonObject;
  api?: string;
  startedAt?: number;
  token?: string;
  requestId?: string;
  /** No result: the Check ended in an internal error. */
  error?: boolean;
  result?: Partial<DecisionResult> & Record<string, unknown>;
  data?: Readonly<Record<string, unknown>>;
}

export function decisionEvent(options: EventOptions = {}): DecisionEvent {
  const decisionId = randomUUID();
  const who = options.principal === null ? undefined : (options.principal ?? principal());
  const result: DecisionResult = {
    decisionId,
    decision: options.decision ?? "ALLOW",
    reasons: (options.reasons ?? []).map((code) => ({ code, message: `because ${code}` })),
    obligations: [],
    explain: [],
    policyRevision: "sha256:0123456789abcdef",
    ...(who ? { principal: who } : {}),
    ...options.result,
  };
  return {
    decisionId,
    startedAt: options.startedAt ?? Date.now(),
    latencyMs: 1.2345,
    input: {
      caller: { name: options.api ?? "invoices-api", audience: "https://invoices.example", scopes: new Set(["invoices:read"]), unknownScopes: "deny" },
      token: options.token ?? "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJl",
      action: options.action ?? "invoices:read",
      resource: { type: options.resource?.type ?? "invoice", id: options.resource?.id ?? "inv-1", attributes: options.resource?.attributes ?? {} },
      context: options.context ?? {},
      requestId: options.requestId ?? "req-1",
      dryRun: false,
    },
    ...(options.error ? {} : { result }),
    ...(who ? { principal: who, tokenHash: "a".repeat(64) } : {}),
    policy: { revision: "sha256:0123456789abcdef", data: options.data ?? POLICY_DATA },
  };
}
