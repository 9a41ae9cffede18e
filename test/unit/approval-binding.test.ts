import { createHash } from "node:crypto";
import { describe, expect, it } from "vitest";
import { boundFields, differs, type Binding } from "../../src/approvals/index.js";

describe("an approval's binding to the named context fields", () => {
  it("is the SHA-256 of the fields' RFC 8785 canonical JSON, whatever order the context has", () => {
    const a = boundFields(["destination", "amount", "currency"], { currency: "EUR", amount: 150, destination: "DE02", note: "ignored" });
    const b = boundFields(["amount", "currency", "destination"], { destination: "DE02", amount: 150.0, currency: "EUR" });
    expect(a.bound).toBe('{"amount":150,"currency":"EUR","destination":"DE02"}');
    expect(a).toEqual(b);
    expect(a.digest).toBe(`sha256:${createHash("sha256").update(a.bound, "utf8").digest("hex")}`);
  });

  it("changes with any named value, and binds an absent field as null", () => {
    const base = boundFields(["amount"], { amount: 150 });
    expect(boundFields(["amount"], { amount: 151 }).digest).not.toBe(base.digest);
    expect(boundFields(["amount"], { amount: "150" }).digest).not.toBe(base.digest);
    expect(boundFields(["amount"], {}).bound).toBe('{"amount":null}');
    expect(boundFields(["amount"], { amount: null }).digest).toBe(boundFields(["amount"], {}).digest);
  });

  it("sorts nested keys and writes numbers as RFC 8785 does", () => {
    expect(boundFields(["x"], { x: { b: 1e21, a: [1.5, { d: 2, c: "é" }] } }).bound).toBe('{"x":{"a":[1.5,{"c":"é","d":2}],"b":1e+21}}');
  });
});

describe("an approval's binding to the chain of agents", () => {
  const binding = (actors?: Binding["actors"]): Binding => ({
    issuer: "https://idp.example",
    subject: "alice",
    client_id: "agent-7",
    ...(actors !== undefined ? { actors } : {}),
    action: "payments:transfer",
    resource: { type: "account", id: "acc-1" },
    ...boundFields(["amount"], { amount: 150 }),
  });
  const planner = { subject: "planner-agent" };
  const sub = { subject: "sub-agent", client_id: "agent-1" };

  it("is another request through another chain: compared exactly, order, client_id and iss included", () => {
    const approved = binding([planner, sub]);
    expect(differs(approved, binding([planner, sub]))).toBeUndefined();
    for (const other of [
      [],
      [planner],
      [sub, planner],
      [planner, { subject: "sub-agent" }],
      [planner, { ...sub, client_id: "" }],
      [planner, { ...sub, iss: "https://partner.example" }],
      [planner, sub, sub],
    ]) {
      expect(differs(approved, binding(other))).toBe("another chain of agents");
    }
    expect(differs(binding([]), binding([planner]))).toBe("another chain of agents");
  });

  it("reads an approval kept before chains were recorded as asked through none: only a request without an act chain matches", () => {
    const old = binding(undefined);
    expect(differs(old, binding([]))).toBeUndefined();
    expect(differs(old, binding([planner]))).toBe("another chain of agents");
  });
});
