// Shadow evaluation: a candidate bundle is evaluated beside the active one; the
// answer is always the active one's, and every disagreement is recorded in MongoDB
// for the author to read back.
import { afterAll, beforeAll, describe, expect, inject, it, vi } from "vitest";
import { Database } from "../../src/database/index.js";
import { createMetrics, silentLogger } from "../../src/observability/index.js";
import { DEFAULT_STATE_TIMEOUT_MS, openDisagreements, type DisagreementStore, type ListOptions } from "../../src/state/index.js";
import { buildTestBundle, fixturePolicy, policiesWithData } from "../support/bundles.js";
import { captureLog } from "../support/log.js";
import { mongoUri, uniqueDatabaseName } from "../support/mongo.js";
import { startTestVerdict, type TestVerdict } from "../support/verdict.js";

/** The disagreements a Verdict recorded, read as `verdict policy disagreements` reads them. */
function open(database: string): { list: DisagreementStore["list"]; close(): Promise<void> } {
  const db = Database.open({ uri: mongoUri(), database, log: silentLogger() });
  const store = openDisagreements(db, { timeoutMs: 5_000, retentionDays: 7, log: silentLogger(), metrics: createMetrics() });
  return { list: (options: ListOptions) => store.list(options), close: () => db.close() };
}
const listDisagreements = (store: ReturnType<typeof open>, options: ListOptions) => store.list(options);

describe("a candidate that would change answers", () => {
  let t: TestVerdict;
  let store: ReturnType<typeof open>;
  let candidate: { path: string; revision: string };

  beforeAll(async () => {
    // the candidate lowers the per-transaction limit from 500 to 300
    candidate = await buildTestBundle(policiesWithData(["settings", "limits", "payments:transfer", "per_transaction"], 300));
    t = await startTestVerdict({ config: { shadow_bundle: candidate.path, shadow_wait_ms: 200 } });
    store = open(t.database);
  });
  afterAll(async () => {
    await t?.stop();
    await store?.close();
  });

  const transfer = async (amount: number, sub: string) =>
    t.client.check({ token: await t.issuer.token({ scope: "payments:write", sub }), action: "payments:transfer", context: { amount }, explain: true });

  it("answers with the active bundle and shows what the candidate said", async () => {
    const response = await transfer(400, "user-shadow-1");
    expect(response).toMatchObject({ decision: "ALLOW", reasons: [], policy_revision: t.verdict.policyRevision });
    expect(response.obligations).toHaveLength(1);
    expect(response.explanation?.shadow).toEqual({
      policy_revision: candidate.revision,
      decision: "DENY",
      reasons: [{ code: "limit_exceeded", message: "a single payments:transfer may not exceed 300" }],
      agrees: false,
    });
  });

  it("records the disagreement with both effects and reasons, and each field that differs, without the token or the context", async () => {
    const response = await transfer(450, "user-shadow-2");
    await t.verdict.flushShadowRecords();
    const records = await listDisagreements(store, { limit: 10 });
    const record = records.find((r) => r.decisionId === response.decision_id);
    expect(record).toMatchObject({
      caller: "invoices-api",
      action: "payments:transfer",
      subject: "user-shadow-2",
      clientId: "agent-7",
      differs: ["effect", "reasons", "obligations"],
      active: { revision: t.verdict.policyRevision, effect: "allow", reasons: [] },
      shadow: { revision: candidate.revision, effect: "deny", reasons: [{ code: "limit_exceeded" }], obligations: [] },
    });
    expect(record?.active.obligations).toEqual([
      { type: "reserve", key: ["payments:transfer", "daily_per_user", t.issuer.issuer, "user-shadow-2"], amount: 450, limit: 1000, window: "day" },
    ]);
    // field by field: the effect, the reason code added, the obligation the candidate no longer asks for
    const reserve = record?.active.obligations[0];
    expect(record?.changes).toEqual([
      { field: "effect", from: "allow", to: "deny" },
      { field: "reasons", to: "limit_exceeded" },
      { field: `obligations[reserve payments:transfer/daily_per_user/${t.issuer.issuer}/user-shadow-2]`, from: reserve },
    ]);
    expect(JSON.stringify(record)).not.toContain("eyJ"); // no JWT
    expect(record).not.toHaveProperty("context");
  });

  it("records nothing when both bundles agree", async () => {
    const response = await transfer(200, "user-shadow-3");
    expect(response.explanation?.shadow).toMatchObject({ decision: "ALLOW", agrees: true });
    await t.verdict.flushShadowRecords();
    const records = await listDisagreements(store, { limit: 100 });
    expect(records.some((r) => r.decisionId === response.decision_id)).toBe(false);
  });

  it("lists the newest first, filtered by candidate revision and time", async () => {
    await transfer(401, "user-shadow-4");
    await t.verdict.flushShadowRecords();
    const all = await listDisagreements(store, { limit: 100 });
    expect(all.length).toBeGreaterThanOrEqual(3);
    expect(all.map((r) => r.at.getTime())).toEqual([...all.map((r) => r.at.getTime())].sort((x, y) => y - x));
    expect(await listDisagreements(store, { limit: 100, shadowRevision: "sha256:0000000000000000" })).toEqual([]);
    expect(await listDisagreements(store, { limit: 100, since: new Date(Date.now() + 60_000) })).toEqual([]);
    expect(await listDisagreements(store, { limit: 1 })).toHaveLength(1);
  });

  it("does not list records past their expiry, even where the server ignores TTL indexes", async () => {
    const later = new Date(Date.now() + 8 * 86_400_000); // retention is 7 days
    expect(await listDisagreements(store, { limit: 100, now: later })).toEqual([]);
  });

  it("counts agreements and disagreements", async () => {
    const text = await t.verdict.metrics.registry.metrics();
    expect(text).toMatch(/verdict_shadow_evaluations_total\{outcome="disagree"\} [3-9]/);
    expect(text).toMatch(/verdict_shadow_evaluations_total\{outcome="agree"\} [1-9]/);
  });

  it("leaves the answer alone without explain, and puts nothing of the policy's internals on it", async () => {
    const response = await t.client.check({
      token: await t.issuer.token({ scope: "payments:write", sub: "user-shadow-5" }),
      action: "payments:transfer",
      context: { amount: 400 },
    });
    expect(response.decision).toBe("ALLOW");
    expect(response.explanation).toBeUndefined();
  });
});

describe("a candidate that fails", () => {
  let t: TestVerdict;
  let store: ReturnType<typeof open>;

  beforeAll(async () => {
    const broken = await buildTestBundle(fixturePolicy("misbehaving-policy"));
    t = await startTestVerdict({ config: { shadow_bundle: broken.path, shadow_wait_ms: 5, policy_timeout_ms: 1_000, policy_workers: 1 } });
    store = open(t.database);
  });
  afterAll(async () => {
    await t?.stop();
    await store?.close();
  });

  it("never changes the answer when the candidate has no decision, and records the failure", async () => {
    const response = await t.client.check({ token: await t.issuer.token({ scope: "invoices:read" }), action: "invoices:read", explain: true });
    expect(response.decision).toBe("ALLOW");
    await vi.waitFor(
      async () => {
        const record = (await listDisagreements(store, { limit: 10 })).find((r) => r.decisionId === response.decision_id);
        expect(record?.shadow).toMatchObject({ effect: "deny", reasons: [{ code: "policy_error" }], error: expect.stringContaining("undefined") });
      },
      { timeout: 5_000, interval: 50 },
    );
  });

  it("does not wait for a candidate that runs long: the answer comes first, the record later", async () => {
    const token = await t.issuer.token({ scope: "invoices:read" });
    const response = await t.client.check({ token, action: "spin", explain: true });
    expect(response.decision).toBe("DENY");
    expect(response.reasons.map((r) => r.code)).toEqual(["action_unknown"]);
    expect(response.explanation?.shadow).toBeUndefined();

    // its one worker is busy with the spin: the next shadow evaluation is skipped, not queued
    const next = await t.client.check({ token, action: "invoices:read", explain: true });
    expect(next.decision).toBe("ALLOW");
    expect(await t.verdict.metrics.registry.metrics()).toMatch(/verdict_shadow_evaluations_total\{outcome="skipped"\} [1-9]/);

    await vi.waitFor(
      async () => {
        const record = (await listDisagreements(store, { limit: 10 })).find((r) => r.decisionId === response.decision_id);
        expect(record?.shadow.error).toContain("longer than 1000 ms");
      },
      { timeout: 5_000, interval: 50 },
    );
  });
});

describe("recording", () => {
  it("warns of a write it could not make, with the server's error, counted in the metric; the decision id is recorded once", async () => {
    const db = Database.open({ uri: mongoUri(), database: uniqueDatabaseName("shadow-record"), log: silentLogger() });
    const captured = captureLog();
    const metrics = createMetrics();
    try {
      // as `verdict serve` opens it, at the default state_timeout_ms
      const store = openDisagreements(db, { timeoutMs: DEFAULT_STATE_TIMEOUT_MS, retentionDays: 7, log: captured.log, metrics });
      const verdict = { revision: "r1", effect: "allow" as const, reasons: [], obligations: [] };
      const disagreement = {
        decisionId: "decision-twice",
        at: new Date(),
        caller: "api",
        action: "invoices:read",
        resource: { type: "invoice", id: "1" },
        subject: "user-1",
        clientId: "agent-1",
        clientType: "agent",
        differs: [],
        active: verdict,
        shadow: { ...verdict, revision: "r2", effect: "deny" as const },
      };
      store.record(disagreement);
      await store.flush();
      store.record(disagreement);
      store.record(disagreement);
      await store.flush();

      expect(await store.list({ limit: 10 })).toHaveLength(1);
      const warnings = captured.lines().filter(({ msg }) => msg === "could not record a shadow disagreement");
      expect(warnings).toHaveLength(1);
      expect(warnings[0]).toMatchObject({ times: 1, error: expect.stringMatching(/duplicate key/i) });
      expect(await metrics.registry.metrics()).toMatch(/verdict_shadow_record_failures_total 2/);
    } finally {
      await db.close();
    }
  });
});

describe("configuration", () => {
  it("serves without a shadow when none is configured", async () => {
    const t = await startTestVerdict({ config: { bundle: inject("bundlePath") } });
    try {
      const response = await t.client.check({ token: await t.issuer.token(), action: "invoices:read", explain: true });
      expect(response.explanation).toEqual({ rules: [] });
      expect(t.verdict.policies.shadow()).toBeUndefined();
    } finally {
      await t.stop();
    }
  });
});
