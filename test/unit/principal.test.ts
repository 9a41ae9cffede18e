import { describe, expect, it } from "vitest";
import { actorsOf, MAX_ACT_DEPTH, principalFromClaims, TokenError } from "../../src/token/index.js";

const base = { iss: "https://i", sub: "user-1", client_id: "agent-1", aud: "a", exp: 2, iat: 1, jti: "j" };

describe("principal from verified claims", () => {
  it("splits a space-delimited scope claim and drops duplicates", () => {
    expect(principalFromClaims({ ...base, scope: "a b  a" }).scopes).toEqual(["a", "b"]);
  });

  it("reads an scp array", () => {
    expect(principalFromClaims({ ...base, scp: ["a", "b"] }).scopes).toEqual(["a", "b"]);
  });

  it.each([
    ["a scope that is not a string", { scope: ["a"] }],
    ["an scp that is not an array of strings", { scp: "a b" }],
    ["both scope and scp", { scope: "a", scp: ["a"] }],
    ["a client_type that is not a string", { client_type: 1 }],
    ["an act that is not an object", { act: "agent" }],
    ["an act without sub", { act: { client_id: "x" } }],
    ["an act whose iss is not a string (RFC 8693 §4.1)", { act: { sub: "agent-a", iss: 7 } }],
    ["an act whose iss is empty", { act: { sub: "agent-a", act: { sub: "agent-b", iss: "" } } }],
    ["authorization_details that are not an array (RFC 9396)", { authorization_details: { type: "payment_initiation" } }],
    ["an authorization_details entry without a type", { authorization_details: [{ actions: ["read"] }] }],
    ["an authorization_details entry that is not an object", { authorization_details: ["payment_initiation"] }],
    ["more authorization_details than a person could have been asked for", { authorization_details: Array.from({ length: 33 }, () => ({ type: "t" })) }],
  ])("refuses %s as claim_type_invalid", (_, claims) => {
    expect(() => principalFromClaims({ ...base, ...claims })).toThrow(expect.objectContaining({ reason: "claim_type_invalid" }));
  });

  it.each([
    ["AI-Agent", "ai-agent"],
    ["ai-agent ", "ai-agent"],
    [" \tAI-AGENT\n", "ai-agent"],
    ["ＡＩ-Agent", "ai-agent"],
    ["Web", "web"],
  ])("normalises client_type %j to %j (trimmed, NFKC, lowercased)", (raw, normalised) => {
    expect(principalFromClaims({ ...base, client_type: raw }).clientType).toBe(normalised);
  });

  it("has an empty client_type when the token does not say", () => {
    expect(principalFromClaims(base).clientType).toBe("");
    expect(principalFromClaims({ ...base, client_type: "   " }).clientType).toBe("");
  });

  it("turns a nested act claim into actors, outermost first, with its depth", () => {
    const principal = principalFromClaims({
      ...base,
      act: { sub: "agent-b", client_id: "agent-b", act: { sub: "agent-a" } },
    });
    expect(principal.actors).toEqual([{ subject: "agent-b", clientId: "agent-b" }, { subject: "agent-a" }]);
    expect(principal.delegationDepth).toBe(2);
  });

  it("keeps each actor's iss, so the same subject at two issuers is two actors", () => {
    const principal = principalFromClaims({ ...base, act: { sub: "agent-a", client_id: "orch", iss: "https://partner", act: { sub: "agent-a" } } });
    expect(principal.actors).toEqual([{ subject: "agent-a", clientId: "orch", issuer: "https://partner" }, { subject: "agent-a" }]);
    expect(actorsOf(principal)).toEqual([{ subject: "agent-a", client_id: "orch", iss: "https://partner" }, { subject: "agent-a" }]);
  });

  it("refuses an act chain deeper than the hard limit", () => {
    let act: Record<string, unknown> = { sub: "last" };
    for (let i = 0; i < MAX_ACT_DEPTH; i++) act = { sub: `a${i}`, act };
    expect(() => principalFromClaims({ ...base, act })).toThrow(TokenError);
  });

  it("carries RFC 9396 authorization_details as the token has them, and none when it has none", () => {
    const details = [{ type: "payment_initiation", actions: ["initiate"], instructedAmount: { amount: "180.00", currency: "EUR" }, creditorName: "ACME" }];
    expect(principalFromClaims({ ...base, authorization_details: details }).authorizationDetails).toEqual(details);
    expect(principalFromClaims(base)).not.toHaveProperty("authorizationDetails");
  });
});
