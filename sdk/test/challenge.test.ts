// The one mapping from Verdict's answers to HTTP, row by row of the table in
// shared/design/architecture.md (and sdk/README.md).
import { describe, expect, it } from "vitest";
import { toHttpAnswer, VerdictError, type Decision } from "@verdict/sdk";

const base = { reasons: [{ code: "x", message: "y" }], decisionId: "d-1", policyRevision: "r" };
const principal = { subject: "alice", clientId: "agent-1", actors: [], delegationDepth: 0, scopes: [], issuer: "i", expiresAt: 1 };

const decision = (d: Decision) => ({ kind: "decision" as const, decision: d });

describe("toHttpAnswer", () => {
  it("lets an ALLOW through", () => {
    expect(toHttpAnswer(decision({ ...base, decision: "ALLOW", principal, obligations: [] }))).toBeNull();
  });

  it("answers an invalid token 401 with a Bearer invalid_token challenge and the safe description", () => {
    const answer = toHttpAnswer(
      decision({
        ...base,
        decision: "DENY",
        reasons: [{ code: "token_expired", message: "The token has expired." }],
        challenge: { error: "invalid_token", description: "The token has expired." },
      }),
    );
    expect(answer?.status).toBe(401);
    expect(answer?.headers["www-authenticate"]).toBe('Bearer error="invalid_token", error_description="The token has expired."');
    expect(answer?.body).toEqual({
      error: "invalid_token",
      error_description: "The token has expired.",
      decision: "DENY",
      decision_id: "d-1",
      reasons: [{ code: "token_expired", message: "The token has expired." }],
    });
  });

  it("answers a suspended principal 403 without a challenge, saying what is suspended and until when", () => {
    const message = "The agent agent-7 is suspended until 2026-12-01T12:00:00.000Z.";
    const answer = toHttpAnswer(decision({ ...base, decision: "DENY", reasons: [{ code: "principal_suspended", message }] }));
    expect(answer?.status).toBe(403);
    expect(answer?.headers["www-authenticate"]).toBeUndefined();
    expect(answer?.body).toEqual({
      error: "access_denied",
      error_description: message,
      decision: "DENY",
      decision_id: "d-1",
      reasons: [{ code: "principal_suspended", message }],
    });
  });

  it("answers in the DPoP scheme when the client used it (RFC 9449 §7.1)", () => {
    const answer = toHttpAnswer(decision({ ...base, decision: "DENY", challenge: { error: "invalid_token", description: "bad" } }), { scheme: "DPoP" });
    expect(answer?.headers["www-authenticate"]).toBe('DPoP error="invalid_token", error_description="bad"');
  });

  it("answers an invalid DPoP proof 401 with a DPoP invalid_dpop_proof challenge", () => {
    const answer = toHttpAnswer(
      decision({ ...base, decision: "DENY", challenge: { error: "invalid_dpop_proof", description: "The proof is for another URL." } }),
    );
    expect(answer?.status).toBe(401);
    expect(answer?.headers["www-authenticate"]).toBe('DPoP error="invalid_dpop_proof", error_description="The proof is for another URL."');
  });

  it("names the token's scopes and the missing ones when given grantedScopes, in a scope and a step-up challenge", () => {
    const scoped = toHttpAnswer(
      decision({ ...base, decision: "DENY", principal, challenge: { error: "insufficient_scope", scopes: ["invoices:write"], description: "more" } }),
      {
        grantedScopes: ["invoices:read", "invoices:write"],
      },
    );
    expect(scoped?.headers["www-authenticate"]).toBe('Bearer error="insufficient_scope", error_description="more", scope="invoices:read invoices:write"');
    expect(scoped?.body).toMatchObject({ scope: "invoices:read invoices:write" });
    const stepUp = toHttpAnswer(
      decision({
        ...base,
        decision: "STEP_UP",
        challenge: { error: "insufficient_user_authentication", acrValues: ["mfa"], maxAge: 60, description: "again" },
      }),
      {
        grantedScopes: ["payments:write"],
      },
    );
    expect(stepUp?.headers["www-authenticate"]).toBe(
      'Bearer error="insufficient_user_authentication", error_description="again", acr_values="mfa", max_age=60, scope="payments:write"',
    );
  });

  it("answers a missing scope 403 with insufficient_scope and every scope the action needs", () => {
    const answer = toHttpAnswer(
      decision({
        ...base,
        decision: "DENY",
        principal,
        challenge: { error: "insufficient_scope", scopes: ["invoices:write", "invoices:read"], description: "more scope" },
      }),
    );
    expect(answer?.status).toBe(403);
    expect(answer?.headers["www-authenticate"]).toBe('Bearer error="insufficient_scope", error_description="more scope", scope="invoices:write invoices:read"');
    expect(answer?.body).toMatchObject({ error: "insufficient_scope", scope: "invoices:write invoices:read", decision_id: "d-1" });
  });

  it("answers a step-up 401 insufficient_user_authentication with acr_values and max_age (RFC 9470)", () => {
    const answer = toHttpAnswer(
      decision({
        ...base,
        decision: "STEP_UP",
        principal,
        challenge: { error: "insufficient_user_authentication", acrValues: ["mfa", "phr"], maxAge: 300, description: "stronger" },
      }),
    );
    expect(answer?.status).toBe(401);
    expect(answer?.headers["www-authenticate"]).toBe(
      'Bearer error="insufficient_user_authentication", error_description="stronger", acr_values="mfa phr", max_age=300',
    );
    expect(answer?.body).toMatchObject({ error: "insufficient_user_authentication", acr_values: "mfa phr", max_age: 300, decision: "STEP_UP" });
  });

  it("leaves max_age out of a step-up that has none", () => {
    const answer = toHttpAnswer(
      decision({ ...base, decision: "STEP_UP", challenge: { error: "insufficient_user_authentication", acrValues: ["mfa"], description: "stronger" } }),
    );
    expect(answer?.headers["www-authenticate"]).toBe('Bearer error="insufficient_user_authentication", error_description="stronger", acr_values="mfa"');
    expect(answer?.body).not.toHaveProperty("max_age");
  });

  it("answers a policy deny without a challenge 403 and no WWW-Authenticate", () => {
    const answer = toHttpAnswer(decision({ ...base, decision: "DENY", principal, reasons: [{ code: "limit_exceeded", message: "over" }] }));
    expect(answer?.status).toBe(403);
    expect(answer?.headers).not.toHaveProperty("www-authenticate");
    expect(answer?.body).toEqual({ error: "access_denied", decision: "DENY", decision_id: "d-1", reasons: [{ code: "limit_exceeded", message: "over" }] });
  });

  it("answers a deny only for the window's rate 429, without a challenge: the same request may pass later", () => {
    const rate = { code: "rate_limited", message: "Too many requests in the window." };
    const answer = toHttpAnswer(decision({ ...base, decision: "DENY", principal, reasons: [rate] }));
    expect(answer?.status).toBe(429);
    expect(answer?.headers).not.toHaveProperty("www-authenticate");
    expect(answer?.body).toEqual({ error: "too_many_requests", decision: "DENY", decision_id: "d-1", reasons: [rate] });
    // beside another reason, it is the policy's deny
    const both = toHttpAnswer(decision({ ...base, decision: "DENY", principal, reasons: [rate, { code: "limit_exceeded", message: "over" }] }));
    expect(both?.status).toBe(403);
  });

  it("says Retry-After in whole seconds, rounded up, when Verdict says how long the rate's window stays full, whatever the policy named the reason", () => {
    const agent = { code: "agent_too_fast", message: "This agent is over its rate." };
    const answer = toHttpAnswer(decision({ ...base, decision: "DENY", principal, reasons: [agent], retryAfterMs: 1_200 }));
    expect(answer?.status).toBe(429);
    expect(answer?.headers["retry-after"]).toBe("2");
    expect(answer?.body).toEqual({ error: "too_many_requests", decision: "DENY", decision_id: "d-1", reasons: [agent] });
    const rate = { code: "rate_limited", message: "Too many requests in the window." };
    expect(toHttpAnswer(decision({ ...base, decision: "DENY", principal, reasons: [rate], retryAfterMs: 60_000 }))?.headers["retry-after"]).toBe("60");
    expect(toHttpAnswer(decision({ ...base, decision: "DENY", principal, reasons: [rate], retryAfterMs: 1 }))?.headers["retry-after"]).toBe("1");
  });

  it.each(["state_unavailable", "audit_unavailable"])("answers a deny only for %s 503 with Retry-After: a DENY Verdict could not help, fail closed", (code) => {
    const reason = { code, message: "Real-time state could not be read or written in time." };
    const answer = toHttpAnswer(decision({ ...base, decision: "DENY", principal, reasons: [reason] }), { retryAfterSeconds: 2 });
    expect(answer?.status).toBe(503);
    expect(answer?.headers["retry-after"]).toBe("2");
    expect(answer?.headers).not.toHaveProperty("www-authenticate");
    expect(answer?.body).toEqual({
      error: "temporarily_unavailable",
      error_description: "Authorization is temporarily unavailable; retry later.",
      decision: "DENY",
      decision_id: "d-1",
      reasons: [reason],
    });
    expect(toHttpAnswer(decision({ ...base, decision: "DENY", principal, reasons: [reason] }))?.headers["retry-after"]).toBe("5");
  });

  it("answers a deny only for policy_error 500 server_error, no challenge: the service failed, the request is not known to be forbidden", () => {
    const failed = { code: "policy_error", message: "The policy could not produce a valid decision." };
    const answer = toHttpAnswer(decision({ ...base, decision: "DENY", principal, reasons: [failed] }));
    expect(answer).toEqual({
      status: 500,
      headers: { "content-type": "application/json; charset=utf-8" },
      body: { error: "server_error", decision: "DENY", decision_id: "d-1", reasons: [failed] },
    });
    // with a reason of the policy's beside it, it is the policy's deny: 403
    const rule = { code: "over_limit", message: "Over the limit." };
    expect(toHttpAnswer(decision({ ...base, decision: "DENY", principal, reasons: [failed, rule] }))?.status).toBe(403);
  });

  it("answers a token whose issuer could not be asked 503 with Retry-After, never invalid_token (the token is not known to be bad)", () => {
    const reason = { code: "issuer_unavailable", message: "The issuer's keys or introspection endpoint could not be reached; try again shortly." };
    const expected = {
      status: 503,
      headers: { "content-type": "application/json; charset=utf-8", "retry-after": "5" },
      body: {
        error: "temporarily_unavailable",
        error_description: "Authorization is temporarily unavailable; retry later.",
        decision: "DENY",
        decision_id: "d-1",
        reasons: [reason],
      },
    };
    expect(toHttpAnswer(decision({ ...base, decision: "DENY", reasons: [reason] }))).toEqual(expected);
    // as a Verdict before 2026-12-07 sent it, with an invalid_token challenge
    const legacy = decision({ ...base, decision: "DENY", reasons: [reason], challenge: { error: "invalid_token", description: reason.message } });
    expect(toHttpAnswer(legacy)).toEqual(expected);
    // beside another reason it is that reason's answer
    const expired = { code: "token_expired", message: "The token has expired." };
    const both = decision({ ...base, decision: "DENY", reasons: [reason, expired], challenge: { error: "invalid_token", description: expired.message } });
    expect(toHttpAnswer(both)?.status).toBe(401);
  });

  it.each(["verdict_unavailable", "verdict_deadline_exceeded", "verdict_malformed_response", "verdict_internal_error", "verdict_unauthenticated"] as const)(
    "answers %s 503 with Retry-After and no challenge (fail closed)",
    (code) => {
      const answer = toHttpAnswer({ kind: "error", error: new VerdictError(code, "details for the logs: 10.0.0.7:50051") }, { retryAfterSeconds: 7 });
      expect(answer?.status).toBe(503);
      expect(answer?.headers["retry-after"]).toBe("7");
      expect(answer?.headers).not.toHaveProperty("www-authenticate");
      expect(answer?.body).toMatchObject({ error: "temporarily_unavailable", reasons: [{ code }] });
      expect(JSON.stringify(answer?.body)).not.toContain("10.0.0.7");
    },
  );

  it("answers a call an overloaded Verdict refused 503 with the Retry-After it asked for, in whole seconds rounded up", () => {
    const overloaded = (ms: number) => new VerdictError("verdict_unavailable", "RESOURCE_EXHAUSTED: overloaded", "RESOURCE_EXHAUSTED", ms);
    expect(toHttpAnswer({ kind: "error", error: overloaded(1_200) }, { retryAfterSeconds: 7 })).toMatchObject({
      status: 503,
      headers: { "retry-after": "2" },
      body: { error: "temporarily_unavailable", reasons: [{ code: "verdict_unavailable" }] },
    });
    expect(toHttpAnswer({ kind: "error", error: overloaded(5_000) })?.headers["retry-after"]).toBe("5");
    expect(toHttpAnswer({ kind: "error", error: overloaded(0) })?.headers["retry-after"]).toBe("0");
  });

  it("answers a request Verdict refused as malformed 400, not 503", () => {
    const answer = toHttpAnswer({ kind: "error", error: new VerdictError("verdict_invalid_argument", "resource.id too long") });
    expect(answer).toMatchObject({ status: 400, body: { error: "invalid_request", reasons: [{ code: "verdict_invalid_argument" }] } });
    expect(answer?.headers).not.toHaveProperty("retry-after");
  });

  it("answers a request without a token 401 with a bare Bearer challenge (RFC 6750 §3.1)", () => {
    const answer = toHttpAnswer({ kind: "no_token" });
    expect(answer?.status).toBe(401);
    expect(answer?.headers["www-authenticate"]).toBe("Bearer");
    expect(answer?.body).toMatchObject({ reasons: [{ code: "token_missing" }] });
  });

  it("adds resource_metadata to every challenge for MCP, and the suggested scope to the no-token one", () => {
    const resourceMetadata = "https://mcp.example.com/.well-known/oauth-protected-resource/mcp";
    expect(toHttpAnswer({ kind: "no_token" }, { resourceMetadata, scope: ["invoices:read", "mcp:tools"] })?.headers["www-authenticate"]).toBe(
      `Bearer scope="invoices:read mcp:tools", resource_metadata="${resourceMetadata}"`,
    );
    expect(toHttpAnswer({ kind: "no_token" }, { resourceMetadata })?.headers["www-authenticate"]).toBe(`Bearer resource_metadata="${resourceMetadata}"`);
    const scope = toHttpAnswer(decision({ ...base, decision: "DENY", challenge: { error: "insufficient_scope", scopes: ["a"], description: "d" } }), {
      resourceMetadata,
    });
    expect(scope?.headers["www-authenticate"]).toBe(
      `Bearer error="insufficient_scope", error_description="d", scope="a", resource_metadata="${resourceMetadata}"`,
    );
    const stepUp = toHttpAnswer(
      decision({ ...base, decision: "STEP_UP", challenge: { error: "insufficient_user_authentication", acrValues: ["mfa"], maxAge: 60, description: "d" } }),
      { resourceMetadata },
    );
    expect(stepUp?.headers["www-authenticate"]).toBe(
      `Bearer error="insufficient_user_authentication", error_description="d", acr_values="mfa", max_age=60, resource_metadata="${resourceMetadata}"`,
    );
    const deny = toHttpAnswer(decision({ ...base, decision: "DENY" }), { resourceMetadata });
    expect(deny?.headers).not.toHaveProperty("www-authenticate");
  });

  it("keeps quotes, backslashes, line breaks and non-ASCII out of the header it writes", () => {
    const answer = toHttpAnswer(
      decision({ ...base, decision: "DENY", challenge: { error: "invalid_token", description: 'say "hi"\\\r\nSet-Cookie: x=1 — ok' } }),
    );
    const header = answer?.headers["www-authenticate"] ?? "";
    expect(header).toBe(`Bearer error="invalid_token", error_description="say 'hi'/ Set-Cookie: x=1 ok"`);
    expect(header).toMatch(/^[\x20-\x7e]*$/);
    const scoped = toHttpAnswer(decision({ ...base, decision: "DENY", challenge: { error: "insufficient_scope", scopes: ['a"b\\c'], description: "" } }));
    expect(scoped?.headers["www-authenticate"]).toContain('scope="a\\"b\\\\c"');
  });

  it("answers an Authorization header without a usable token 400 invalid_request", () => {
    const answer = toHttpAnswer({ kind: "malformed_authorization" });
    expect(answer?.status).toBe(400);
    expect(answer?.headers["www-authenticate"]).toMatch(/^Bearer error="invalid_request", error_description="/);
    expect(answer?.body).toMatchObject({ reasons: [{ code: "authorization_malformed" }] });
  });

  it("answers a DPoP header that cannot be a proof 401 invalid_dpop_proof", () => {
    const answer = toHttpAnswer({ kind: "malformed_dpop_proof" });
    expect(answer?.status).toBe(401);
    expect(answer?.headers["www-authenticate"]).toMatch(/^DPoP error="invalid_dpop_proof"/);
    expect(answer?.body).toMatchObject({ reasons: [{ code: "dpop_invalid" }] });
  });

  it("answers a needed approval 403 (the token stays good) with approval_id and approval_url in the challenge and the approval in the body", () => {
    const answer = toHttpAnswer(
      decision({
        ...base,
        decision: "STEP_UP",
        reasons: [{ code: "approval_required", message: "A person must approve this transfer." }],
        challenge: {
          error: "approval_required",
          approvalId: "apr_0123456789abcdefghijkl",
          approvalUrl: "https://verdict.example/approvals/apr_0123456789abcdefghijkl",
          expiresAt: 1_900_000_600,
          authorizationDetails: [],
          description: "A person must approve this request.",
        },
      }),
    );
    expect(answer?.status).toBe(403);
    expect(answer?.headers["www-authenticate"]).toBe(
      'Bearer error="approval_required", error_description="A person must approve this request.", approval_id="apr_0123456789abcdefghijkl", approval_url="https://verdict.example/approvals/apr_0123456789abcdefghijkl"',
    );
    expect(answer?.body).toEqual({
      error: "approval_required",
      error_description: "A person must approve this request.",
      approval: {
        id: "apr_0123456789abcdefghijkl",
        url: "https://verdict.example/approvals/apr_0123456789abcdefghijkl",
        expires_at: 1_900_000_600,
        retry_header: "verdict-approval",
      },
      decision: "STEP_UP",
      decision_id: "d-1",
      reasons: [{ code: "approval_required", message: "A person must approve this transfer." }],
    });
  });

  it("names the RFC 9396 details an approval could be obtained with instead, base64url in authorization_remediation", () => {
    const details = [{ type: "payment_initiation", instructedAmount: { amount: "180", currency: "EUR" } }];
    const answer = toHttpAnswer(
      decision({ ...base, decision: "STEP_UP", challenge: { error: "approval_required", authorizationDetails: details, description: "" } }),
    );
    const header = answer?.headers["www-authenticate"] ?? "";
    const remediation = /authorization_remediation=([A-Za-z0-9_-]+)$/.exec(header)?.[1] ?? "";
    expect(JSON.parse(Buffer.from(remediation, "base64url").toString("utf8"))).toEqual({ authorization_details: details });
    expect(header).not.toContain("approval_id"); // a dry run recorded none
    expect(answer?.body).toMatchObject({ authorization_details: details });
  });

  it("answers missing authorization details 401 insufficient_authorization (draft-zehavi-oauth-rar-metadata), a token with them being the fix", () => {
    const details = [{ type: "payment_initiation", actions: ["initiate"], locations: ["https://api.example"] }];
    const answer = toHttpAnswer(
      decision({
        ...base,
        decision: "STEP_UP",
        challenge: { error: "insufficient_authorization", authorizationDetails: details, acrValues: ["mfa"], maxAge: 300, description: "details" },
      }),
    );
    expect(answer?.status).toBe(401);
    expect(answer?.headers["www-authenticate"]).toBe(
      `Bearer error="insufficient_authorization", error_description="details", acr_values="mfa", max_age=300, authorization_remediation=${Buffer.from(JSON.stringify({ authorization_details: details })).toString("base64url")}`,
    );
    expect(answer?.body).toMatchObject({ error: "insufficient_authorization", authorization_details: details, acr_values: "mfa", max_age: 300 });
  });
});
