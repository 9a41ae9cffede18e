// The policy's input for the items of a batch: input.batch counts the batch's actions
// by name, and a name is only ever a name (an action may be called "constructor").
import { describe, expect, it } from "vitest";
import { jsonTree, loadSchemas, policyInputs, validateAgainst } from "../../src/policy/index.js";
import { principalFromClaims, type Principal } from "../../src/token/index.js";
import { defaultPolicyDir } from "../../src/paths.js";

const principal = {
  subject: "alice",
  clientId: "agent-7",
  actors: [],
  delegationDepth: 0,
  scopes: [],
  issuer: "https://i",
  expiresAt: 1,
} as unknown as Principal;
const check = (action: string) => ({ action, resource: { type: "record", id: "r-1", attributes: {} }, context: {} });

describe("input.batch.actions", () => {
  it("counts every action by its name, Object.prototype's names included", () => {
    const checks = ["constructor", "constructor", "toString", "delete"].map(check);
    const input = policyInputs(checks, principal, { name: "api", audience: "https://api" }, 0, true)(checks[0]!, 0);
    expect(input.batch?.actions).toEqual({ constructor: 2, toString: 1, delete: 1 });
    expect(Object.values(input.batch?.actions ?? {}).every((n) => typeof n === "number")).toBe(true);
  });
});

describe("the shipped contract (policies/schemas/input.json)", () => {
  it("accepts the input Verdict builds from a token with every optional claim, the act chain's iss included", () => {
    const { input: contract } = loadSchemas(defaultPolicyDir);
    const full = principalFromClaims({
      ...{ iss: "https://i", sub: "alice", client_id: "agent-7", client_type: "ai-agent", aud: "a", exp: 2, iat: 1, jti: "j", sid: "s-1" },
      ...{ scope: "invoices:read", acr: "mfa", auth_time: 1, authorization_details: [{ type: "payment_initiation" }] },
      act: { sub: "planner-agent", client_id: "orch", iss: "https://partner.example", act: { sub: "root-agent" } },
    });
    const checks = [check("invoices:read")];
    const input = policyInputs(checks, full, { name: "api", audience: "https://api" }, 0, true)(checks[0]!, 0);
    const text = JSON.stringify(input, null, 2);
    expect(validateAgainst(contract!.schema, input, { file: "input.json", text, tree: jsonTree(text)!, prefix: [] })).toEqual([]);
  });
});
