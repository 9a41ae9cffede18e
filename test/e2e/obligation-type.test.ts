// An obligation type registered from outside Verdict's own list (a fixture module
// and one registry line), through a real server: the policy's output is read and
// refused by the type's rules, explain words it, it is applied and shown on the
// wire and in the SDK's decision, kept in the audit record, and Release undoes it.
import { createVerdictClient } from "@verdict/sdk";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { OBLIGATION_TYPES, ObligationRegistry } from "../../src/obligations/index.js";
import { parseDecision, PolicyError } from "../../src/policy/index.js";
import { cooldown } from "../fixtures/obligations/cooldown.js";
import { AuditTestClient } from "../support/audit-client.js";
import { buildFixtureBundle } from "../support/bundles.js";
import { startTestVerdict, type TestVerdict } from "../support/verdict.js";

const obligations = new ObligationRegistry([...OBLIGATION_TYPES, cooldown]);
let t: TestVerdict;

beforeAll(async () => {
  t = await startTestVerdict({ obligations, config: { bundle: await buildFixtureBundle("cooldown-policy") } });
});
afterAll(async () => {
  await t?.stop();
});

describe("an obligation type registered by a test", () => {
  it("is read from the policy's output by its own rules, with a precise error", () => {
    const raw = (seconds: unknown) => ({ effect: "allow", obligations: [{ type: "cooldown", key: ["nudge", "u"], seconds }] });
    expect(parseDecision(raw(30), obligations).obligations).toEqual([
      { type: "cooldown", key: ["nudge", "u"], seconds: 30, reason: cooldown.defaultReason, onFailure: { effect: "deny" } },
    ]);
    expect(() => parseDecision(raw(0), obligations)).toThrow(new PolicyError("decision.obligations[0].seconds must be a positive whole number"));
    expect(() => parseDecision(raw(90_000), obligations)).toThrow(new PolicyError("decision.obligations[0].seconds must be at most 86400 (a day)"));
    expect(() => parseDecision(raw(30))).toThrow(/type must be reserve, rate, once or suspend/);
  });

  it("is applied once per window, explained, shown on the wire and in the SDK's decision, and refused while it holds", async () => {
    const token = await t.issuer.token({ sub: "cooling-user" });
    const first = await t.client.check({ token, action: "nudge", explain: true });
    expect(first.decision).toBe("ALLOW");
    expect(first.obligations).toEqual([
      {
        type: "cooldown",
        key: "nudge/cooling-user",
        amount: 0,
        limit: 0,
        window: "60s",
        total: 0,
        details: { seconds: 60, until: expect.stringMatching(/^\d{4}-\d\d-\d\dT/) },
      },
    ]);
    expect(first.explanation?.rules).toEqual([
      { kind: "obligation", rule: "cooldown.nudge", code: "cooldown", message: "wait 60 s between uses of nudge/cooling-user" },
    ]);

    const second = await t.client.check({ token, action: "nudge" });
    expect(second).toMatchObject({ decision: "DENY", reasons: [{ code: "cooldown_active" }], obligations: [] });

    const sdk = createVerdictClient({ address: t.address, tls: false, credential: { apiKey: t.apiKey }, deadlineMs: 10_000 });
    try {
      const other = await sdk.check({ token: await t.issuer.token({ sub: "sdk-user" }), action: "nudge", resource: { type: "invoice", id: "i-1" } });
      expect(other).toMatchObject({ decision: "ALLOW", obligations: [{ type: "cooldown", key: "nudge/sdk-user", details: { seconds: 60 } }] });
    } finally {
      sdk.close();
    }
  });

  it("is denied as policy_error when the policy asks for one that does not fit", async () => {
    const response = await t.client.check({ token: await t.issuer.token({ sub: "bad-user" }), action: "bad_nudge" });
    expect(response).toMatchObject({ decision: "DENY", reasons: [{ code: "policy_error" }] });
  });

  it("is kept in the audit record with its details", async () => {
    const response = await t.client.check({ token: await t.issuer.token({ sub: "audited-user" }), action: "nudge" });
    await t.verdict.audit?.flush();
    const audit = new AuditTestClient(t.address, t.apiKey);
    try {
      const { records } = await audit.query({ subject: "audited-user" });
      expect(records.find((r) => r.decision_id === response.decision_id)?.obligations).toEqual([
        { type: "cooldown", key: "nudge/audited-user", amount: 0, limit: 0, window: "60s", total: 0, details: { seconds: 60, until: expect.any(String) } },
      ]);
    } finally {
      audit.close();
    }
  });

  it("is undone by Release, once, so the key can be used again", async () => {
    const token = await t.issuer.token({ sub: "released-user" });
    const allowed = await t.client.check({ token, action: "nudge" });
    expect(allowed.decision).toBe("ALLOW");
    expect((await t.client.check({ token, action: "nudge" })).decision).toBe("DENY");

    const released = await t.client.release(allowed.decision_id);
    expect(released).toMatchObject({
      ok: true,
      response: { status: "released", released: [{ type: "cooldown", key: "nudge/released-user", window: "60s", total: 0, details: { seconds: 60 } }] },
    });
    expect(await t.client.release(allowed.decision_id)).toMatchObject({ ok: true, response: { status: "already_released", released: [] } });
    expect((await t.client.check({ token, action: "nudge" })).decision).toBe("ALLOW");
  });
});
