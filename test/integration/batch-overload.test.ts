// CheckBatch under load, at the defaults a user gets, over gRPC with bundles
// compiled by the real opa: a batch's evaluations are admitted to the policy pool
// together, so 64 batches of 50 in flight are all decided; more work than the pool
// may hold is refused as a whole call, fast, with RESOURCE_EXHAUSTED "overloaded"
// (retry later), never as items answered DENY policy_error, and Verdict keeps serving.
import * as grpc from "@grpc/grpc-js";
import { performance } from "node:perf_hooks";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildFixtureBundle } from "../support/bundles.js";
import { scrape, valueOf } from "../support/metrics.js";
import { startTestVerdict, type TestVerdict } from "../support/verdict.js";

const INVOICE = { type: "invoice", attributes: { status: "open", amount_due: 120, customer: { email: "c@example.com" } } };

describe("64 concurrent CheckBatch calls of 50 at the defaults", () => {
  let t: TestVerdict;
  beforeAll(async () => {
    t = await startTestVerdict(); // the shipped policies, default configuration
  });
  afterAll(async () => {
    await t?.stop();
  });

  it("decides every item (3,200 evaluations in flight): no call refused, no item policy_error", async () => {
    const token = await t.issuer.token({ scope: "invoices:read" });
    const items = Array.from({ length: 50 }, (_, i) => ({ action: "invoices:read", resource: { ...INVOICE, id: `inv-${i}` }, context: { page: 1 } }));
    for (let round = 0; round < 2; round++) {
      const outcomes = await Promise.all(Array.from({ length: 64 }, () => t.client.checkBatch({ token, items })));
      const refused = outcomes.flatMap((outcome) => (outcome.ok ? [] : [`${grpc.status[outcome.code]} ${outcome.details}`]));
      expect(refused).toEqual([]);
      const codes = outcomes.flatMap((outcome) =>
        outcome.ok
          ? outcome.response.results.map((r) => (r.response ? [r.response.decision, ...r.response.reasons.map((x) => x.code)].join(" ") : r.error?.code))
          : [],
      );
      expect(codes).toHaveLength(3_200);
      expect(new Set(codes)).toEqual(new Set(["ALLOW"]));
    }
  });
});

describe("a flood of CheckBatch calls beyond the policy pool's bound", () => {
  let t: TestVerdict;
  beforeAll(async () => {
    t = await startTestVerdict({ config: { bundle: await buildFixtureBundle("slow-policy") } });
  });
  afterAll(async () => {
    await t?.stop();
  });

  it("refuses the excess whole and fast with RESOURCE_EXHAUSTED overloaded, decides the rest, and keeps serving", async () => {
    const token = await t.issuer.token({ scope: "invoices:read" });
    // 250 batches of max_batch_items (100) at once: 25,000 evaluations, more than the 8,192 that may wait.
    const items = Array.from({ length: 100 }, () => ({ action: "slow" }));
    const sent = performance.now();
    const outcomes = await Promise.all(
      Array.from({ length: 250 }, async () => {
        const outcome = await t.client.checkBatch({ token, items });
        return { outcome, ms: performance.now() - sent };
      }),
    );
    const refused = outcomes.filter(({ outcome }) => !outcome.ok);
    const decided = outcomes.filter(({ outcome }) => outcome.ok);
    expect(refused.length).toBeGreaterThan(0);
    expect(decided.length).toBeGreaterThan(0);
    for (const { outcome } of refused) {
      if (outcome.ok) continue;
      expect(grpc.status[outcome.code]).toBe("RESOURCE_EXHAUSTED");
      expect(outcome.details).toMatch(/^overloaded: .*nothing was applied; retry later$/);
    }
    // Every admitted batch is decided whole: no item refused on its own.
    const decisions = decided.flatMap(({ outcome }) =>
      outcome.ok
        ? outcome.response.results.map((r) => (r.response ? [r.response.decision, ...r.response.reasons.map((x) => x.code)].join(" ") : r.error?.code))
        : [],
    );
    expect(decisions).toHaveLength(decided.length * 100);
    const samples = await scrape(t.verdict.adminUrl);
    const failures = (reason: string) => valueOf(samples, "verdict_policy_evaluation_failures_total", { bundle: "active", reason }) ?? 0;
    // A machine this busy (the flood beside other work on two cores) may stop an evaluation at the 250 ms wall-clock bound:
    // those, and only those, are policy_error; nothing the queue did is.
    expect(decisions.filter((d) => d !== "ALLOW")).toEqual(Array(failures("timeout")).fill("DENY policy_error"));
    expect(failures("timeout")).toBeLessThan(decisions.length / 1_000);
    expect([failures("error"), failures("memory"), failures("invalid_output")]).toEqual([0, 0, 0]);
    // Counted as overloaded evaluations, one per refused item.
    expect(failures("overloaded")).toBe(refused.length * 100);

    // Refused on arrival, not after waiting for the admitted work.
    const slowestRefusal = Math.max(...refused.map(({ ms }) => ms));
    const slowestDecision = Math.max(...decided.map(({ ms }) => ms));
    expect(slowestRefusal).toBeLessThan(slowestDecision);

    // And the next caller is decided.
    const after = await t.client.checkBatch({ token, items });
    expect(after.ok && after.response.results.map((r) => r.response?.decision)).toEqual(Array(100).fill("ALLOW"));
  });
});
