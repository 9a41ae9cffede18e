// CheckBatch under load, at the defaults a user gets, over gRPC with bundles
// compiled by the real opa: a batch's evaluations are admitted to the policy pool
// together, so 64 batches of 50 in flight are all decided; more work than the pool
// may hold is refused as a whole call, fast, with RESOURCE_EXHAUSTED "overloaded"
// (retry later), never as items answered DENY policy_error, and Verdict keeps serving.
import * as grpc from "@grpc/grpc-js";
import { performance } from "node:perf_hooks";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { RETRY_PUSHBACK_METADATA } from "@verdict/sdk/wire";
import { DEFAULT_BOUNDS } from "../../src/policy/index.js";
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
      // When to send it again, as gRPC clients' retry policies read it (gRFC A6): the queue's bound in time,
      // and up to half as much again.
      const [pushback] = outcome.metadata.get(RETRY_PUSHBACK_METADATA);
      expect(pushback).toMatch(/^\d+$/);
      expect(Number(pushback)).toBeGreaterThanOrEqual(DEFAULT_BOUNDS.queueTimeoutMs);
      expect(Number(pushback)).toBeLessThanOrEqual(DEFAULT_BOUNDS.queueTimeoutMs * 1.5);
    }
    // At random in that span, so the refused batches' callers do not all come back at once.
    if (refused.length > 2)
      expect(new Set(refused.map(({ outcome }) => (outcome.ok ? "" : outcome.metadata.get(RETRY_PUSHBACK_METADATA)[0]))).size).toBeGreaterThan(1);
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

    // Refused on arrival, not after waiting for the admitted work; or, admitted, once it waited the queue's
    // bound in time (5 s) without starting, which the admitted work takes on a slow machine (4–5 s here).
    const slowestDecision = Math.max(...decided.map(({ ms }) => ms));
    const late = refused.filter(({ ms }) => ms >= slowestDecision);
    expect(late.filter(({ ms }) => ms < DEFAULT_BOUNDS.queueTimeoutMs)).toEqual([]);
    expect(late.length).toBeLessThan(refused.length);

    // And the next caller is decided.
    const after = await t.client.checkBatch({ token, items });
    expect(after.ok && after.response.results.map((r) => r.response?.decision)).toEqual(Array(100).fill("ALLOW"));
  });

  it("refuses, whole and unevaluated, a call whose deadline passes before its evaluations start", async () => {
    const token = await t.issuer.token({ scope: "invoices:read" });
    const items = Array.from({ length: 100 }, () => ({ action: "slow" }));
    const counted = async () => {
      const samples = await scrape(t.verdict.adminUrl);
      const sum = (name: string, labels: Record<string, string>) =>
        samples.filter((s) => s.name === name && Object.entries(labels).every(([key, value]) => s.labels[key] === value)).reduce((n, s) => n + s.value, 0);
      return {
        overloaded: sum("verdict_policy_evaluation_failures_total", { bundle: "active", reason: "overloaded" }),
        allowed: sum("verdict_decisions_total", { decision: "ALLOW" }),
        answered: sum("verdict_rpcs_total", { method: "CheckBatch" }),
      };
    };
    const before = await counted();
    // 3,000 evaluations ahead (admitted, well inside the count bounds), then a batch whose caller waits 200 ms.
    const ahead = Array.from({ length: 30 }, () => t.client.checkBatch({ token, items }));
    await new Promise((resolve) => setTimeout(resolve, 50));
    const hurried = await t.client.checkBatch({ token, items, deadlineMs: 200 });
    expect(hurried.ok).toBe(false);
    expect(hurried.ok ? undefined : grpc.status[hurried.code]).toMatch(/^(DEADLINE_EXCEEDED|RESOURCE_EXHAUSTED)$/);
    const outcomes = await Promise.all(ahead);
    // Each call ahead decided whole (or, on a machine too slow to start it within 5 s, refused whole).
    for (const outcome of outcomes) {
      if (outcome.ok) expect(outcome.response.results.map((r) => r.response?.decision)).toEqual(Array(100).fill("ALLOW"));
      else expect(grpc.status[outcome.code]).toBe("RESOURCE_EXHAUSTED");
    }
    const refusedAhead = outcomes.filter((outcome) => !outcome.ok).length;
    // The server answers the hurried call once its handler had it (the deadline is the caller's; the queue's answer
    // comes just before it). A machine so busy that the call's 200 ms passed before its handler ran ends it in grpc-js,
    // unanswered by Verdict: then nothing of it reached the queue either.
    await expect.poll(async () => (await counted()).answered - before.answered, { timeout: 5_000 }).toBeGreaterThanOrEqual(30);
    const after = await counted();
    const handled = after.answered - before.answered - 30;
    expect([0, 1]).toContain(handled);
    // Its 100 items were never evaluated: only the calls ahead that were decided allowed anything.
    expect(after.allowed - before.allowed).toBe(100 * (outcomes.length - refusedAhead));
    // Handled, they were refused as overloaded, not evaluated for a caller that had gone.
    expect(after.overloaded - before.overloaded).toBe(100 * (refusedAhead + handled));
  });
});
