// A decision holds its engine across its evaluations: closing a held engine (a
// hot swap) waits until the decision is done with it.
import { describe, expect, inject, it } from "vitest";
import { loadBundle, PolicyEngine, PolicyError, type PolicyInput } from "../../src/policy/index.js";

const input: PolicyInput = {
  action: "invoices:read",
  resource: { type: "invoice", id: "inv-1", attributes: {} },
  context: {},
  principal: { subject: "u", client_id: "web-app", client_type: "", actors: [], delegation_depth: 0, scopes: ["invoices:read"], issuer: "i", expires_at: 2e9 },
  caller: { api: "invoices-api", audience: "https://invoices.example" },
  state: {},
  now: 1_700_000_000,
};

describe("holding a policy engine", () => {
  it("keeps a closed engine evaluating until the last holder releases it", async () => {
    const engine = await PolicyEngine.load(await loadBundle(inject("bundlePath")));
    const release = engine.hold();
    expect(await engine.stateQueries(input)).toEqual([]);
    let closed = false;
    const closing = engine.close().then(() => (closed = true));
    // swapped out, but still held: the decision in progress finishes on it
    expect((await engine.decide(input)).effect).toBe("allow");
    expect(closed).toBe(false);
    expect(() => engine.hold()).toThrow(PolicyError);
    release();
    await closing;
    expect(closed).toBe(true);
    await expect(engine.decide(input)).rejects.toThrow();
  });

  it("closes at once when nobody holds it, and a release is idempotent", async () => {
    const engine = await PolicyEngine.load(await loadBundle(inject("bundlePath")));
    const release = engine.hold();
    release();
    release();
    await engine.close();
    await expect(engine.decide(input)).rejects.toThrow();
  });
});
