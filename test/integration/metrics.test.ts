// GET /metrics after a scenario: every value what the scenario did. Decisions by
// decision, reason and API; Check and CheckBatch latency; token outcomes and cache
// hits; a JWKS fetch; database calls; obligations applied, refused and released;
// the audit trail; policy stages; the process; readiness.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { CheckResponseMessage } from "@verdict/sdk/wire";
import { buildFixtureBundle } from "../support/bundles.js";
import { json, startHttpServer, type TestHttpServer } from "../support/http.js";
import { createTestIssuer, type TestIssuer } from "../support/issuer.js";
import { scrape, valueOf, type Sample } from "../support/metrics.js";
import { startTestVerdict, type TestVerdict } from "../support/verdict.js";

const REMOTE_ISSUER = "https://remote-issuer.test.example";

let t: TestVerdict;
let remote: TestIssuer;
let jwks: TestHttpServer;
let samples: Sample[];
const decisions: CheckResponseMessage[] = [];
let checks = 0;
let verifiedTokens = 0;
let cacheHits = 0;
let applied = 0;
let released = 0;

beforeAll(async () => {
  const issuer = await createTestIssuer();
  remote = await createTestIssuer({ issuer: REMOTE_ISSUER });
  jwks = await startHttpServer({ "/jwks.json": (_request, _body, response) => json(response, { keys: [remote.publicJwk] }) });
  t = await startTestVerdict({
    issuer,
    config: {
      bundle: await buildFixtureBundle("state-policy"),
      issuers: [
        { issuer: issuer.issuer, jwks_file: issuer.jwksPath, algorithms: ["ES256"] },
        { issuer: REMOTE_ISSUER, jwks_uri: `${jwks.url}/jwks.json`, algorithms: ["ES256"] },
      ],
    },
  });

  const seen = new Set<string>();
  const check = async (token: string, action: string, context = {}) => {
    checks += 1;
    if (seen.has(token)) cacheHits += 1;
    seen.add(token);
    const response = await t.client.check({ token, action, context });
    decisions.push(response);
    if (response.decision === "ALLOW") applied += response.obligations.length;
    return response;
  };
  const reader = await issuer.token({ sub: "reader" });
  await check(reader, "read");
  await check(reader, "read"); // from the verified-token cache
  await check(reader, "fly"); // no rule: DENY action_unknown
  const payer = await issuer.token({ sub: "payer" });
  const first = await check(payer, "transfer", { amount: 400 });
  await check(payer, "transfer", { amount: 400 });
  await check(payer, "transfer", { amount: 400 }); // 1200 > 1000: the reservation is refused
  await check(payer, "transfer_checked", { amount: 100 }); // reads the day's spend
  const now = Math.floor(Date.now() / 1000);
  await check(await issuer.token({ iat: now - 700, exp: now - 100 }), "read"); // expired
  await check(await remote.token({ sub: "remote-user" }), "read"); // its keys fetched from jwks_uri
  verifiedTokens = checks - 1; // all but the expired one

  const release = await t.client.release(first.decision_id);
  if (!release.ok) throw new Error(`release failed: ${release.details}`);
  released = release.response.released.length;

  const batch = await t.client.checkBatch({ token: reader, items: [{ action: "read" }, { action: "read" }] });
  if (!batch.ok) throw new Error(`batch failed: ${batch.details}`);
  for (const result of batch.response.results) if (result.response) decisions.push(result.response);
  verifiedTokens += 1;
  cacheHits += 1;

  await t.verdict.audit?.flush();
  samples = await scrape(t.verdict.adminUrl);
});
afterAll(async () => {
  await t?.stop();
  await jwks?.close();
});

describe("GET /metrics after a scenario", () => {
  it("counts every decision by decision, first reason and API", () => {
    const expected = new Map<string, number>();
    for (const d of decisions) {
      const key = `${d.decision}|${d.reasons[0]?.code ?? "none"}`;
      expected.set(key, (expected.get(key) ?? 0) + 1);
    }
    expect([...expected.keys()].sort()).toEqual(["ALLOW|none", "ALLOW|state_seen", "DENY|action_unknown", "DENY|limit_exceeded", "DENY|token_expired"]);
    for (const [key, count] of expected) {
      const [decision, reason] = key.split("|") as [string, string];
      expect(valueOf(samples, "verdict_decisions_total", { decision, reason, api: "invoices-api" }), key).toBe(count);
    }
    const total = samples.filter((s) => s.name === "verdict_decisions_total").reduce((sum, s) => sum + s.value, 0);
    expect(total).toBe(decisions.length);
  });

  it("times every Check and CheckBatch, and counts RPCs by status", () => {
    expect(valueOf(samples, "verdict_check_duration_seconds_count", { method: "Check" })).toBe(checks);
    expect(valueOf(samples, "verdict_check_duration_seconds_count", { method: "CheckBatch" })).toBe(1);
    expect(valueOf(samples, "verdict_check_duration_seconds_sum", { method: "Check" })).toBeGreaterThan(0);
    expect(valueOf(samples, "verdict_check_duration_seconds_bucket", { method: "Check", le: "+Inf" })).toBe(checks);
    expect(valueOf(samples, "verdict_rpcs_total", { method: "Check", code: "OK" })).toBe(checks);
    expect(valueOf(samples, "verdict_rpcs_total", { method: "Release", code: "OK" })).toBe(1);
  });

  it("counts token verifications by outcome, cache hits and the JWKS fetch", () => {
    expect(valueOf(samples, "verdict_token_verifications_total", { result: "valid" })).toBe(verifiedTokens);
    expect(valueOf(samples, "verdict_token_verifications_total", { result: "token_expired" })).toBe(1);
    expect(valueOf(samples, "verdict_token_cache_hits_total")).toBe(cacheHits);
    expect(valueOf(samples, "verdict_jwks_refreshes_total", { issuer: REMOTE_ISSUER, result: "fetched" })).toBe(1);
  });

  it("times each stage: the policy evaluated, state read and enforced, the token verified, the record kept", () => {
    const count = (stage: string) => valueOf(samples, "verdict_stage_duration_seconds_count", { stage }) ?? 0;
    expect(count("verify")).toBe(checks + 1);
    // Every decision with a verified token is evaluated at least once (begin; decide when it needed state).
    expect(count("evaluate")).toBeGreaterThanOrEqual(decisions.length - 1);
    expect(count("state")).toBeGreaterThanOrEqual(1);
    expect(count("enforce")).toBeGreaterThanOrEqual(4);
    expect(count("audit")).toBe(checks + 1);
  });

  it("counts database calls by operation, and the one that raced (a refused reservation tries to create the counter first)", () => {
    expect(valueOf(samples, "verdict_database_call_duration_seconds_count", { operation: "reserve" })).toBe(4);
    expect(valueOf(samples, "verdict_database_call_duration_seconds_count", { operation: "read state" })).toBe(1);
    // Release: the decision's holdings looked up in both stores (counters, single-use keys), then given back with one update
    expect(valueOf(samples, "verdict_database_call_duration_seconds_count", { operation: "find holdings" })).toBe(2);
    expect(valueOf(samples, "verdict_database_call_duration_seconds_count", { operation: "release a reservation" })).toBe(1);
    expect(samples.filter((s) => s.name === "verdict_database_call_errors_total")).toEqual([
      { name: "verdict_database_call_errors_total", labels: { operation: "reserve", error: "conflict" }, value: 1 },
    ]);
  });

  it("counts obligations applied, refused and released", () => {
    expect(applied).toBe(2);
    expect(valueOf(samples, "verdict_obligations_total", { type: "reserve", outcome: "applied" })).toBe(applied);
    expect(valueOf(samples, "verdict_obligations_total", { type: "reserve", outcome: "refused" })).toBe(1);
    expect(released).toBe(1);
    expect(valueOf(samples, "verdict_obligations_total", { type: "reserve", outcome: "released" })).toBe(released);
  });

  it("reports the audit trail: every record written, nothing buffered, spilled or refused", () => {
    expect(valueOf(samples, "verdict_audit_written_records_total")).toBe(decisions.length);
    expect(valueOf(samples, "verdict_audit_buffered_records")).toBe(0);
    expect(valueOf(samples, "verdict_audit_buffered_bytes")).toBe(0);
    expect(valueOf(samples, "verdict_audit_spilled_records_total")).toBe(0);
    expect(valueOf(samples, "verdict_audit_replayed_records_total")).toBe(0);
    expect(valueOf(samples, "verdict_audit_refused_total")).toBe(0);
    expect(valueOf(samples, "verdict_audit_database_available")).toBe(1);
  });

  it("reports readiness, the database, the bundle's revision and the process", () => {
    expect(valueOf(samples, "verdict_ready")).toBe(1);
    expect(valueOf(samples, "verdict_database_up")).toBe(1);
    expect(valueOf(samples, "verdict_policy_revision", { bundle: "active", revision: t.verdict.policyRevision })).toBe(1);
    expect(valueOf(samples, "verdict_process_cpu_seconds_total")).toBeGreaterThan(0);
    expect(valueOf(samples, "verdict_process_resident_memory_bytes")).toBeGreaterThan(0);
    expect(valueOf(samples, "verdict_nodejs_eventloop_lag_p99_seconds")).toBeGreaterThanOrEqual(0);
    expect(valueOf(samples, "verdict_nodejs_heap_size_used_bytes")).toBeGreaterThan(0);
  });

  it("labels only with values from small sets: no subject, token, resource or decision id", () => {
    const labelValues = samples.flatMap((s) => Object.values(s.labels));
    for (const secret of ["reader", "payer", "remote-user", "inv-1", ...decisions.map((d) => d.decision_id)]) expect(labelValues).not.toContain(secret);
  });
});
