// The pipeline with real parts (the compiled fixture policy, MongoDB over the
// wire, real tokens), counting the database commands a decision costs.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Caller } from "../../src/decide/index.js";
import { Decider } from "../../src/decide/index.js";
import { silentLogger } from "../../src/observability/index.js";
import { loadBundle, PolicyEngine } from "../../src/policy/index.js";
import { IssuerRegistry, TokenVerifier } from "../../src/token/index.js";
import { buildFixtureBundle } from "../support/bundles.js";
import { createTestIssuer, issuerConfig, TEST_AUDIENCE, type TestIssuer } from "../support/issuer.js";
import { openTestState, type TestState } from "../support/state.js";

let store: TestState;
let decider: Decider;
let issuer: TestIssuer;
const commands: string[] = [];
const caller: Caller = { name: "invoices-api", audience: TEST_AUDIENCE, scopes: new Set(["invoices:read"]), unknownScopes: "deny" };
const common = (token: string) => ({ caller, token, requestId: "r-1", dryRun: false });
const item = (action: string, context = {}) => ({ action, resource: { type: "invoice", id: "i-1", attributes: {} }, context });

beforeAll(async () => {
  issuer = await createTestIssuer();
  store = await openTestState({ name: "decider", onCommand: (name) => commands.push(name) });
  const engine = await PolicyEngine.load(await loadBundle(await buildFixtureBundle("state-policy")));
  decider = new Decider({
    verifier: new TokenVerifier(IssuerRegistry.fromConfig([issuerConfig(issuer)]), { clockSkewSeconds: 60, maxBytes: 8192 }),
    policies: { current: () => engine },
    state: store,
    dpop: { maxAgeSeconds: 120, skewSeconds: 60, maxBytes: 8192 },
    log: silentLogger(),
  });
});
afterAll(async () => {
  await store.close();
});

describe("what a decision costs the database", () => {
  it("nothing, when the policy needs no state and asks for no obligation", async () => {
    commands.length = 0;
    const result = await decider.check({ ...common(await issuer.token()), ...item("read") });
    expect(result.decision).toBe("ALLOW");
    expect(commands).toEqual([]);
  });

  it("one read for the state of every item of a batch", async () => {
    const token = await issuer.token({ sub: "batch-reader" });
    commands.length = 0;
    const results = await decider.checkBatch({
      ...common(token),
      items: Array.from({ length: 5 }, () => ({ ok: true as const, item: item("transfer_checked", { amount: 1 }) })),
    });
    expect(results.every((r) => r.ok && r.result.decision === "ALLOW")).toBe(true);
    expect(commands).toEqual(["find"]);
  });

  it("one conditional update for an allowed reservation, which also records who holds it", async () => {
    commands.length = 0;
    const result = await decider.check({ ...common(await issuer.token({ sub: "payer" })), ...item("transfer", { amount: 10 }) });
    expect(result.decision).toBe("ALLOW");
    expect(commands).toEqual(["findAndModify"]);
  });
});
