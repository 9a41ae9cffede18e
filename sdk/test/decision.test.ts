// Wire responses become typed decisions; anything that does not fit the contract
// is a typed error, never an allow.
import { describe, expect, it } from "vitest";
import { toDecision, VerdictError, type Decision } from "@verdict/sdk";
import type { ChallengeMessage, CheckResponseMessage, PrincipalMessage } from "@verdict/sdk/wire";

const principal: PrincipalMessage = {
  subject: "alice",
  client_id: "agent-1",
  client_type: "ai-agent",
  actors: [{ subject: "agent-1", client_id: "", issuer: "" }],
  scopes: ["invoices:read"],
  acr: "",
  auth_time: 0,
  issuer: "https://issuer.example",
  token_id: "jti-1",
  expires_at: 1_900_000_000,
  delegation_depth: 1,
  authorization_details: [],
};

/** A response; a challenge's fields it does not name are proto3's defaults. */
function response(
  overrides: Omit<Partial<CheckResponseMessage>, "challenge"> & { challenge?: Partial<ChallengeMessage> } & Record<string, unknown>,
): CheckResponseMessage {
  const { challenge, ...rest } = overrides;
  const defaults = { error: "", scopes: [], acr_values: [], description: "", approval_id: "", approval_url: "", expires_at: 0, authorization_details: [] };
  return {
    decision: "ALLOW",
    reasons: [],
    principal,
    obligations: [],
    decision_id: "0b6f3a4e-6a43-4b6c-9d41-0f7c8a3b2e11",
    policy_revision: "rev-1",
    retry_after_ms: 0,
    ...rest,
    ...(challenge ? { challenge: { ...defaults, ...challenge } } : {}),
  };
}

function malformed(message: CheckResponseMessage): VerdictError {
  try {
    toDecision(message);
  } catch (error) {
    expect(error).toBeInstanceOf(VerdictError);
    return error as VerdictError;
  }
  throw new Error("expected a verdict_malformed_response error, got a decision");
}

describe("toDecision", () => {
  it("turns an ALLOW into a typed decision with a camelCase principal, absent proto3 defaults left out", () => {
    const decision = toDecision(response({ obligations: [{ type: "reserve", key: "k", amount: 5, limit: 10, window: "day", total: 5 }] }));
    expect(decision).toEqual<Decision>({
      decision: "ALLOW",
      reasons: [],
      decisionId: "0b6f3a4e-6a43-4b6c-9d41-0f7c8a3b2e11",
      policyRevision: "rev-1",
      principal: {
        subject: "alice",
        clientId: "agent-1",
        clientType: "ai-agent",
        actors: [{ subject: "agent-1" }],
        delegationDepth: 1,
        scopes: ["invoices:read"],
        issuer: "https://issuer.example",
        tokenId: "jti-1",
        expiresAt: 1_900_000_000,
      },
      obligations: [{ type: "reserve", key: "k", amount: 5, limit: 10, window: "day", total: 5 }],
    });
  });

  it("keeps an actor's client_id and issuer when the token named them (RFC 8693 act iss)", () => {
    const actors = [
      { subject: "agent-1", client_id: "orch", issuer: "https://partner.example" },
      { subject: "agent-1", client_id: "", issuer: "" },
    ];
    expect(toDecision(response({ principal: { ...principal, actors, delegation_depth: 2 } })).principal?.actors).toEqual([
      { subject: "agent-1", clientId: "orch", issuer: "https://partner.example" },
      { subject: "agent-1" },
    ]);
  });

  it("keeps a deny's insufficient_scope challenge with its scopes", () => {
    const decision = toDecision(
      response({
        decision: "DENY",
        reasons: [{ code: "insufficient_scope", message: "m" }],
        challenge: { error: "insufficient_scope", scopes: ["invoices:write"], acr_values: [], description: "d" },
      }),
    );
    expect(decision).toMatchObject({ decision: "DENY", challenge: { error: "insufficient_scope", scopes: ["invoices:write"], description: "d" } });
  });

  it("keeps a step-up's acr_values, and max_age only when Verdict sent one", () => {
    const withMaxAge = toDecision(
      response({
        decision: "STEP_UP",
        challenge: { error: "insufficient_user_authentication", scopes: [], acr_values: ["mfa"], max_age: 300, description: "" },
      }),
    );
    expect(withMaxAge).toMatchObject({ decision: "STEP_UP", challenge: { acrValues: ["mfa"], maxAge: 300 } });
    const without = toDecision(
      response({
        decision: "STEP_UP",
        challenge: { error: "insufficient_user_authentication", scopes: [], acr_values: ["mfa"], max_age: undefined, description: "" },
      }),
    );
    expect(without.decision === "STEP_UP" && "maxAge" in without.challenge).toBe(false);
  });

  it("keeps an approval_required challenge's approval, URL, expiry and authorization details", () => {
    const details = [{ type: "payment_initiation" }];
    const decision = toDecision(
      response({
        decision: "STEP_UP",
        challenge: {
          error: "approval_required",
          approval_id: "apr_1",
          approval_url: "https://v/approvals/apr_1",
          expires_at: 1_900_000_000,
          authorization_details: details,
          description: "d",
        },
      }),
    );
    expect(decision).toMatchObject({
      decision: "STEP_UP",
      challenge: {
        error: "approval_required",
        approvalId: "apr_1",
        approvalUrl: "https://v/approvals/apr_1",
        expiresAt: 1_900_000_000,
        authorizationDetails: details,
      },
    });
    const dryRun = toDecision(response({ decision: "STEP_UP", challenge: { error: "approval_required", description: "d" } }));
    expect(dryRun.decision === "STEP_UP" && "approvalId" in dryRun.challenge).toBe(false);
  });

  it("keeps the principal's RFC 9396 authorization details", () => {
    const details = [{ type: "payment_initiation", instructedAmount: { amount: "10", currency: "EUR" } }];
    expect(toDecision(response({ principal: { ...principal, authorization_details: details } }))).toMatchObject({
      principal: { authorizationDetails: details },
    });
  });

  it("accepts a deny of a refused token, which has no principal", () => {
    const decision = toDecision(
      response({ decision: "DENY", principal: undefined, challenge: { error: "invalid_token", scopes: [], acr_values: [], description: "expired" } }),
    );
    expect(decision).toMatchObject({ decision: "DENY", challenge: { error: "invalid_token", description: "expired" } });
    expect("principal" in decision).toBe(false);
  });

  it("keeps how long a rate's window stays full on a DENY; proto3's 0 is none", () => {
    const rate = { code: "rate_limited", message: "Too many requests in the window." };
    expect(toDecision(response({ decision: "DENY", reasons: [rate], retry_after_ms: 1_500 }))).toMatchObject({ decision: "DENY", retryAfterMs: 1_500 });
    expect("retryAfterMs" in toDecision(response({ decision: "DENY", reasons: [rate], retry_after_ms: 0 }))).toBe(false);
  });

  it.each([
    ["DECISION_UNSPECIFIED", response({ decision: "DECISION_UNSPECIFIED" })],
    ["an enum value the generated decoder could not name", response({ decision: 7 as unknown as "ALLOW" })],
    ["an enum value the generated decoder marks unrecognized", response({ decision: "UNRECOGNIZED" })],
    ["an ALLOW without a principal", response({ principal: undefined })],
    ["an ALLOW whose principal has no subject", response({ principal: { ...principal, subject: "" } })],
    ["an ALLOW without a decision id", response({ decision_id: "" })],
    ["an ALLOW that carries a challenge", response({ challenge: { error: "invalid_token", scopes: [], acr_values: [], description: "" } })],
    ["a STEP_UP without a challenge", response({ decision: "STEP_UP" })],
    [
      "a STEP_UP with a scope challenge",
      response({ decision: "STEP_UP", challenge: { error: "insufficient_scope", scopes: ["a"], acr_values: [], description: "" } }),
    ],
    [
      "a STEP_UP naming no acr",
      response({ decision: "STEP_UP", challenge: { error: "insufficient_user_authentication", scopes: [], acr_values: [], description: "" } }),
    ],
    [
      "a step-up challenge with a negative max_age",
      response({
        decision: "STEP_UP",
        challenge: { error: "insufficient_user_authentication", scopes: [], acr_values: ["mfa"], max_age: -1, description: "" },
      }),
    ],
    [
      "a DENY with a step-up challenge",
      response({ decision: "DENY", challenge: { error: "insufficient_user_authentication", scopes: [], acr_values: ["mfa"], description: "" } }),
    ],
    [
      "an insufficient_scope challenge naming no scope",
      response({ decision: "DENY", challenge: { error: "insufficient_scope", scopes: [], acr_values: [], description: "" } }),
    ],
    [
      "a challenge error the SDK cannot express",
      response({ decision: "DENY", challenge: { error: "use_dpop_nonce", scopes: [], acr_values: [], description: "" } }),
    ],
    ["an approval without its URL", response({ decision: "STEP_UP", challenge: { error: "approval_required", approval_id: "apr_1", expires_at: 1 } })],
    ["an approval without its expiry", response({ decision: "STEP_UP", challenge: { error: "approval_required", approval_id: "apr_1", approval_url: "u" } })],
    ["an insufficient_authorization challenge naming no details", response({ decision: "STEP_UP", challenge: { error: "insufficient_authorization" } })],
    ["a DENY with an approval_required challenge", response({ decision: "DENY", challenge: { error: "approval_required" } })],
    ["a reason without a code", response({ decision: "DENY", reasons: [{ code: "", message: "?" }] })],
    ["a negative retry_after_ms", response({ decision: "DENY", retry_after_ms: -1 })],
    ["a retry_after_ms that is no whole number", response({ decision: "DENY", retry_after_ms: 1.5 })],
    ["an obligation without its numbers", response({ obligations: [{ type: "reserve", key: "k", window: "day" } as never] })],
  ])("refuses %s with verdict_malformed_response", (_what, message) => {
    expect(malformed(message).code).toBe("verdict_malformed_response");
  });
});
