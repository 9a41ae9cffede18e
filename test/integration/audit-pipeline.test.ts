// The pipeline and the audit trail together, with real parts (token verification,
// the compiled bundle, MongoDB) and one fault put in on purpose: a policy stage that
// throws, as a bug would, so that the Check ends in an internal error.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { openAuditLog, type AuditLog } from "../../src/audit/index.js";
import { buildConfig } from "../../src/config/index.js";
import { Database } from "../../src/database/index.js";
import { Decider, type CheckInput } from "../../src/decide/index.js";
import { silentLogger } from "../../src/observability/index.js";
import { loadBundle, PolicyEngine } from "../../src/policy/index.js";
import { IssuerRegistry, TokenVerifier } from "../../src/token/index.js";
import { createTestIssuer, issuerConfig, TEST_AUDIENCE, TEST_SCOPES, type TestIssuer } from "../support/issuer.js";
import { connectTestClient, uniqueDatabaseName } from "../support/mongo.js";
import { openTestState, type TestState } from "../support/state.js";

let issuer: TestIssuer;
let engine: PolicyEngine;
let verifier: TokenVerifier;
let state: TestState;
const database = uniqueDatabaseName("audit_pipeline");
const logs: AuditLog[] = [];
const unreachable: Database[] = [];

const auditConfig = (overrides: Record<string, unknown> = {}) =>
  buildConfig(
    {
      issuers: [{ issuer: "i", jwks_file: "f" }],
      apis: [{ name: "a", audience: "b", key_sha256: "a".repeat(64), scopes: ["invoices:read"] }],
      audit: { spill_dir: mkdtempSync(join(tmpdir(), "verdict-spill-")), flush_interval_ms: 10, ...overrides },
    },
    { baseDir: "/", env: {} },
  ).audit;

const dpop = { maxAgeSeconds: 120, skewSeconds: 60, maxBytes: 8192 };

const input = (token: string, overrides: Partial<CheckInput> = {}): CheckInput => ({
  caller: { name: "invoices-api", audience: TEST_AUDIENCE, scopes: new Set(TEST_SCOPES), unknownScopes: "deny" },
  token,
  action: "invoices:read",
  resource: { type: "invoice", id: "inv-1", attributes: {} },
  context: {},
  requestId: "r",
  dryRun: false,
  ...overrides,
});

beforeAll(async () => {
  issuer = await createTestIssuer();
  engine = await PolicyEngine.load(await loadBundle(inject("bundlePath")));
  verifier = new TokenVerifier(IssuerRegistry.fromConfig([issuerConfig(issuer)]), { clockSkewSeconds: 60, maxBytes: 8192 });
  state = await openTestState({ database });
});
afterAll(async () => {
  await Promise.all(logs.map((log) => log.close()));
  await Promise.all(unreachable.map((db) => db.close()));
  await state.close();
});

describe("a Check that ends in an internal error", () => {
  it("is recorded as ERROR with internal_error and the verified subject, and still reaches the caller as an error", async () => {
    const { audit } = openAuditLog({ config: auditConfig(), database: state.database, log: silentLogger() });
    logs.push(audit);
    const bug = () => Promise.reject(new TypeError("Cannot read properties of undefined"));
    const broken = Object.assign(Object.create(engine) as PolicyEngine, { begin: bug, beginAll: (inputs: unknown[]) => inputs.map(bug), decide: bug });
    const decider = new Decider({ verifier, policies: { current: () => broken }, state, dpop, log: silentLogger(), audit });
    await expect(decider.check(input(await issuer.token({ sub: "erin" }), { requestId: "boom" }))).rejects.toThrow(TypeError);
    await audit.flush();
    const client = await connectTestClient();
    try {
      const records = await client.db(database).collection("decisions").find({ request_id: "boom" }).toArray();
      expect(records).toHaveLength(1);
      expect(records[0]).toMatchObject({ decision: "ERROR", reasons: [{ code: "internal_error" }], subject: "erin", policy_revision: engine.revision });
    } finally {
      await client.close();
    }
  });
});

describe("a Verdict whose audit trail cannot keep records", () => {
  it("denies with audit_unavailable, and once it knows, before any obligation is applied", async () => {
    const config = auditConfig({ max_buffered: 1, batch_size: 10, flush_interval_ms: 60_000, write_timeout_ms: 200 });
    const down = Database.open({ uri: "mongodb://127.0.0.1:1/?directConnection=true", database, log: silentLogger() });
    unreachable.push(down);
    const { audit } = openAuditLog({ config, database: down, log: silentLogger() });
    logs.push(audit);
    rmSync(join(config.spill_dir, database), { recursive: true });
    writeFileSync(join(config.spill_dir, database), ""); // the spill directory cannot be written
    const decider = new Decider({ verifier, policies: { current: () => engine }, state, dpop, log: silentLogger(), audit });
    const token = await issuer.token({ sub: "frank", scope: "payments:write" });
    const transfer = () =>
      decider.check(input(token, { action: "payments:transfer", resource: { type: "account", id: "a", attributes: {} }, context: { amount: 100 } }));
    const counter = async () =>
      (
        await state.counters.read(
          [[{ name: "spent", type: "counter", key: ["payments:transfer", "daily_per_user", "frank"], window: { kind: "calendar", unit: "day" } }]],
          Date.now(),
        )
      )[0]?.["spent"];

    expect((await transfer()).decision).toBe("ALLOW"); // buffered
    const second = await transfer(); // the buffer is full and the spill file fails
    expect(second).toMatchObject({ decision: "DENY", reasons: [{ code: "audit_unavailable" }], obligations: [] });
    expect(audit.ready()).toBe(false);
    const held = await counter(); // the second reservation stays held until its window ends: never an overspend
    const third = await transfer();
    expect(third).toMatchObject({ decision: "DENY", reasons: [{ code: "audit_unavailable" }] });
    expect(await counter()).toBe(held);
    expect(audit.stats()).toMatchObject({ accepted: 1, refused: 1 });
  });
});
