// The policy's input for the items of a batch: input.batch counts the batch's actions
// by name, and a name is only ever a name (an action may be called "constructor").
import { describe, expect, it } from "vitest";
import { policyInputs } from "../../src/policy/index.js";
import type { Principal } from "../../src/token/index.js";

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
