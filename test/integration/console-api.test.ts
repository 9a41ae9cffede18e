// The console's JSON API on the admin listener of a real Verdict: sign-in with
// tokens verified like Check tokens (the console's audience and scopes), the
// protections every response carries, the decision trail read through its indexes,
// the agents seen, and the playground that evaluates both bundles and writes nothing.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AuthzenClient } from "../support/authzen.js";
import { connectTestClient } from "../support/mongo.js";
import { buildTestBundle, policiesWithData } from "../support/bundles.js";
import { consoleCall, consoleToken, type ConsoleAnswer } from "../support/console.js";
import { startTestVerdict, type TestVerdict } from "../support/verdict.js";

let t: TestVerdict;
let admin: string;
let token: string;
const call = (path: string, options: Parameters<typeof consoleCall>[2] = {}): Promise<ConsoleAnswer> => consoleCall(admin, path, { token, ...options });

beforeAll(async () => {
  // A shadow bundle that lowers the per-transaction limit from 500 to 300.
  const candidate = await buildTestBundle(policiesWithData(["settings", "limits", "payments:transfer", "per_transaction"], 300));
  t = await startTestVerdict({
    config: { console: { enabled: true }, shadow_bundle: candidate.path, audit: { flush_interval_ms: 10 } },
    consoleDevSignIn: async () => ({ token: await consoleToken(t.issuer), expiresIn: 600 }),
  });
  admin = t.verdict.adminUrl;
  token = await consoleToken(t.issuer);
  // Some decisions to read: agent-a reads for alice and bob, agent-b is refused a dispute.
  for (const [sub, client_id, action, scope] of [
    ["alice", "agent-a", "invoices:read", "invoices:read"],
    ["bob", "agent-a", "invoices:read", "invoices:read"],
    ["carol", "agent-b", "invoices:dispute", "invoices:read"],
  ] as const) {
    await t.client.check({ token: await t.issuer.token({ sub, client_id, scope, client_type: "ai-agent" }), action });
  }
  await t.verdict.audit?.flush();
});
afterAll(async () => {
  await t?.stop();
});

describe("signing in", () => {
  it("asks for a sign-in when no token is sent, with a reason the page can show", async () => {
    const answer = await consoleCall(admin, "/console/api/decisions");
    expect(answer.status).toBe(401);
    expect(answer.body).toMatchObject({ error: "unauthenticated", reason: "token_missing" });
    expect(answer.headers.get("www-authenticate")).toMatch(/^Bearer/);
  });

  it("refuses an expired console token with token_expired", async () => {
    const now = Math.floor(Date.now() / 1000);
    const expired = await consoleToken(t.issuer, undefined, { iat: now - 3_600, exp: now - 600 });
    const answer = await call("/console/api/session", { token: expired });
    expect(answer.status).toBe(401);
    expect(answer.body).toMatchObject({ error: "unauthenticated", reason: "token_expired" });
  });

  it("refuses an API's Check token: the console's audience is its own", async () => {
    const checkToken = await t.issuer.token({ scope: "console:read" });
    const answer = await call("/console/api/session", { token: checkToken });
    expect(answer.status).toBe(401);
    expect(answer.body["reason"]).toBe("audience_mismatch");
  });

  it("refuses a token from an issuer Verdict does not trust", async () => {
    const { createTestIssuer } = await import("../support/issuer.js");
    const stranger = await createTestIssuer({ issuer: "https://stranger.example" });
    const answer = await call("/console/api/session", { token: await consoleToken(stranger) });
    expect(answer.status).toBe(401);
    expect(answer.body["reason"]).toBe("issuer_unknown");
  });

  it("keeps each route to its scope: a read-only operator reads but cannot evaluate or suspend", async () => {
    const reader = await consoleToken(t.issuer, "console:read");
    expect((await call("/console/api/decisions", { token: reader })).status).toBe(200);
    const evaluate = await call("/console/api/playground", {
      token: reader,
      method: "POST",
      body: { principal: { subject: "a", client_id: "b" }, action: "x", resource: { type: "t", id: "i" } },
    });
    expect(evaluate.status).toBe(403);
    expect(evaluate.body).toMatchObject({ error: "permission_denied", reason: "insufficient_scope" });
    const suspend = await call("/console/api/agents/agent-a/suspend", { token: reader, method: "POST", body: { reason: "r" } });
    expect(suspend.status).toBe(403);
  });

  it("signs in before it reads the query string or the body: without the token or the scope, what was sent is not looked at", async () => {
    const badQuery = await consoleCall(admin, "/console/api/decisions?limit=999999999");
    expect([badQuery.status, badQuery.body["reason"]]).toEqual([401, "token_missing"]);
    const badJson = await consoleCall(admin, "/console/api/playground", { method: "POST", headers: { "content-type": "application/json" } });
    expect([badJson.status, badJson.body["reason"]]).toEqual([401, "token_missing"]);
    const reader = await consoleToken(t.issuer, "console:read");
    const badBody = await call("/console/api/agents/agent-a/suspend", { token: reader, method: "POST", body: { nothing: true } });
    expect([badBody.status, badBody.body["error"]]).toEqual([403, "permission_denied"]);
    // Signed in with the scope, the same query is checked.
    expect((await call("/console/api/decisions?limit=999999999")).status).toBe(400);
  });

  it("refuses a token with no console scope at all", async () => {
    const answer = await call("/console/api/session", { token: await consoleToken(t.issuer, "invoices:read") });
    expect(answer.status).toBe(403);
    expect(answer.body["error"]).toBe("permission_denied");
  });

  it("names the operator and what this Verdict's console offers", async () => {
    const answer = await call("/console/api/session");
    expect(answer.status).toBe(200);
    expect(answer.body).toMatchObject({
      operator: { subject: "ops-1", client_id: "verdict-console", scopes: ["console:read", "console:approve", "console:suspend", "console:evaluate"] },
      features: { audit: true, shadow: true },
    });
  });

  it("gives a development token from the one-click sign-in, only to the console's own pages", async () => {
    const answer = await consoleCall(admin, "/console/api/dev-sign-in", { method: "POST", body: {} });
    expect(answer.status).toBe(200);
    expect((await call("/console/api/session", { token: answer.body["access_token"] as string })).status).toBe(200);
    const crossSite = await consoleCall(admin, "/console/api/dev-sign-in", { method: "POST", body: {}, headers: { "sec-fetch-site": "cross-site" } });
    expect(crossSite.status).toBe(403);
  });

  it("gives a development token only on a loopback name: a page whose DNS name was rebound to this machine is refused", async () => {
    // Over node:http: fetch does not let a caller set Host.
    const http = new AuthzenClient(admin);
    const port = new URL(admin).port;
    for (const host of [`rebound.example:${port}`, "rebound.example", `127.0.0.1.nip.io:${port}`]) {
      // What the rebound page's browser sends: its own name in Host, and an Origin that agrees with it.
      const signIn = await http.request("/console/api/dev-sign-in", { body: {}, headers: { host, origin: `http://${host}`, "sec-fetch-site": "same-origin" } });
      expect([signIn.status, signIn.json.error]).toEqual([403, "host_not_loopback"]);
      expect(signIn.text).not.toContain("access_token");
      // With the development sign-in, no console route answers such a page.
      for (const path of ["/console/", "/console/api/config", "/console/api/session"]) {
        expect((await http.request(path, { method: "GET", headers: { host, authorization: `Bearer ${token}` } })).status).toBe(403);
      }
    }
    for (const host of [`127.0.0.1:${port}`, `localhost:${port}`, `[::1]:${port}`, "LOCALHOST"]) {
      const signIn = await http.request("/console/api/dev-sign-in", { body: {}, headers: { host, origin: `http://${host}` } });
      expect([host, signIn.status]).toEqual([host, 200]);
    }
  });
});

describe("what every console response carries", () => {
  it("serves the built page with a strict Content-Security-Policy and no framing", async () => {
    const page = await consoleCall(admin, "/console/");
    expect(page.status).toBe(200);
    expect(page.headers.get("content-type")).toMatch(/^text\/html/);
    expect(page.text).toContain('<div id="app">');
    const csp = page.headers.get("content-security-policy") ?? "";
    expect(csp).toContain("default-src 'none'");
    expect(csp).toContain("script-src 'self'");
    expect(csp).toContain("frame-ancestors 'none'");
    expect(csp).not.toContain("unsafe-inline");
    expect(page.headers.get("x-frame-options")).toBe("DENY");
    expect(page.headers.get("x-content-type-options")).toBe("nosniff");
    expect(page.headers.get("cache-control")).toBe("no-store");
  });

  it("serves the hashed assets the page names, immutable, and nothing else", async () => {
    const page = await consoleCall(admin, "/console/");
    const script = /src="\/console\/(assets\/[^"]+\.js)"/.exec(page.text)?.[1];
    expect(script).toBeDefined();
    const asset = await consoleCall(admin, `/console/${script}`);
    expect(asset.status).toBe(200);
    expect(asset.headers.get("content-type")).toMatch(/^text\/javascript/);
    expect(asset.headers.get("cache-control")).toContain("immutable");
    expect((await consoleCall(admin, "/console/../package.json")).status).toBe(404);
    expect((await consoleCall(admin, "/console/assets/%2e%2e%2f%2e%2e%2fpackage.json")).status).toBe(404);
  });

  it("sends /console to the page", async () => {
    const answer = await consoleCall(admin, "/console");
    expect(answer.status).toBe(302);
    expect(answer.headers.get("location")).toBe("/console/");
  });

  it("refuses writes a browser marks as cross-site, or from a foreign Origin (CSRF)", async () => {
    const body = { principal: { subject: "a", client_id: "b" }, action: "invoices:read", resource: { type: "invoice", id: "i" } };
    const crossSite = await call("/console/api/playground", { method: "POST", body, headers: { "sec-fetch-site": "cross-site" } });
    expect(crossSite.status).toBe(403);
    expect(crossSite.body["error"]).toBe("cross_site_request");
    const foreign = await call("/console/api/playground", { method: "POST", body, headers: { origin: "https://evil.example" } });
    expect(foreign.status).toBe(403);
    const own = await call("/console/api/playground", { method: "POST", body, headers: { origin: admin, "sec-fetch-site": "same-origin" } });
    expect(own.status).toBe(200);
  });

  it("takes writes only as application/json (no form posts)", async () => {
    const response = await fetch(`${admin}/console/api/agents/agent-a/suspend`, {
      method: "POST",
      headers: { authorization: `Bearer ${token}`, "content-type": "application/x-www-form-urlencoded" },
      body: "reason=x",
    });
    expect(response.status).toBe(415);
  });

  it("never echoes the token, and answers the API with no-store", async () => {
    const answer = await call("/console/api/decisions");
    expect(answer.headers.get("cache-control")).toBe("no-store");
    expect(answer.text).not.toContain(token);
  });
});

describe("decisions", () => {
  it("lists the trail newest first and filters it by agent, decision and subject", async () => {
    const all = await call("/console/api/decisions");
    expect(all.status).toBe(200);
    const decisions = all.body["decisions"] as { subject: string; client_id: string; decision: string; time: string }[];
    expect(decisions.map((d) => d.subject)).toEqual(["carol", "bob", "alice"]);
    const byAgent = await call("/console/api/decisions?agent=agent-a");
    expect((byAgent.body["decisions"] as { subject: string }[]).map((d) => d.subject)).toEqual(["bob", "alice"]);
    const denied = await call("/console/api/decisions?decision=DENY");
    expect((denied.body["decisions"] as { client_id: string; reasons: { code: string }[] }[]).map((d) => [d.client_id, d.reasons[0]?.code])).toEqual([
      ["agent-b", "insufficient_scope"],
    ]);
    const none = await call("/console/api/decisions?subject=alice&decision=DENY");
    expect(none.body["decisions"]).toEqual([]);
  });

  it("pages with a token and a limit", async () => {
    const first = await call("/console/api/decisions?limit=2");
    expect(first.body["decisions"]).toHaveLength(2);
    const next = first.body["next_page_token"] as string;
    const second = await call(`/console/api/decisions?limit=2&page_token=${next}`);
    expect((second.body["decisions"] as { subject: string }[]).map((d) => d.subject)).toEqual(["alice"]);
  });

  it("refuses malformed filters with a message", async () => {
    const decision = await call("/console/api/decisions?decision=MAYBE");
    expect(decision.status).toBe(400);
    expect(decision.body).toMatchObject({ error: "audit_query_invalid", message: expect.stringMatching(/decision must be one of/) });
    const since = await call("/console/api/decisions?since=yesterday");
    expect(since.status).toBe(400);
    expect(since.body["message"]).toMatch(/since must be a duration/);
    const unknown = await call("/console/api/decisions?color=red");
    expect(unknown.status).toBe(400);
    const tooMany = await call("/console/api/decisions?limit=5000");
    expect(tooMany.status).toBe(400);
    expect(tooMany.body["message"]).toMatch(/at most 200/);
    const operator = await call(`/console/api/decisions?subject=${encodeURIComponent('{"$ne":null}')}`);
    expect(operator.body["decisions"]).toEqual([]);
  });

  it("opens one decision's full record, and says when there is none", async () => {
    const list = await call("/console/api/decisions?decision=DENY");
    const id = (list.body["decisions"] as { decision_id: string }[])[0]!.decision_id;
    const one = await call(`/console/api/decisions/${id}`);
    expect(one.status).toBe(200);
    expect(one.body["decision"]).toMatchObject({
      decision_id: id,
      decision: "DENY",
      subject: "carol",
      client_id: "agent-b",
      action: "invoices:dispute",
      reasons: [{ code: "insufficient_scope" }],
      challenge: { error: "insufficient_scope" },
      policy_revision: t.verdict.policyRevision,
      actors: [],
    });
    // The record keeps the token's jti and hash, never the token.
    expect(JSON.stringify(one.body)).not.toContain("eyJ");
    expect((await call("/console/api/decisions/no-such-decision")).status).toBe(404);
  });

  it("counts decisions over time by outcome, the top denial reasons and each agent's activity", async () => {
    const stats = await call("/console/api/stats?since=1h");
    expect(stats.status).toBe(200);
    const series = stats.body["series"] as Record<string, number>[];
    expect(series.reduce((n, s) => n + s["ALLOW"]!, 0)).toBe(2);
    expect(series.reduce((n, s) => n + s["DENY"]!, 0)).toBe(1);
    expect(stats.body["top_reasons"]).toEqual([{ code: "insufficient_scope", count: 1 }]);
    expect(stats.body["agents"]).toEqual([
      { client_id: "agent-a", total: 2, ALLOW: 2, DENY: 0, STEP_UP: 0, ERROR: 0 },
      { client_id: "agent-b", total: 1, ALLOW: 0, DENY: 1, STEP_UP: 0, ERROR: 0 },
    ]);
    expect(stats.body["truncated"]).toBe(false);
  });

  it("refuses charts over a window longer than 366 days, saying so", async () => {
    const bound = { error: "audit_query_invalid", message: expect.stringMatching(/^the charts cover at most 366 days/) };
    // since=16000000d once laid out 16 million buckets at once; until in the year 9999, 2.9 million.
    for (const query of ["since=367d", "since=16000000d", "since=999999999d", "until=9999-12-31T00:00Z", "since=2020-01-01T00:00Z&until=2026-01-01T00:00Z"]) {
      const answer = await call(`/console/api/stats?${query}`);
      expect([query, answer.status, answer.body]).toEqual([query, 400, bound]);
    }
    const year = await call("/console/api/stats?since=366d");
    expect(year.status).toBe(200);
    expect(year.body).toMatchObject({ bucket_ms: 86_400_000, series: expect.any(Array) });
    expect((year.body["series"] as unknown[]).length).toBeLessThanOrEqual(367);
  });
});

describe("agents", () => {
  it("lists every agent seen with its users", async () => {
    const answer = await call("/console/api/agents?since=1h");
    const agents = answer.body["agents"] as { client_id: string; users: string[]; counts: Record<string, number> }[];
    expect(agents.map((a) => [a.client_id, a.users]).sort()).toEqual([
      ["agent-a", ["alice", "bob"]],
      ["agent-b", ["carol"]],
    ]);
  });

  it("shows one agent's users and recent decisions", async () => {
    const answer = await call("/console/api/agents/agent-a");
    expect(answer.body["agent"]).toMatchObject({ client_id: "agent-a", users: ["alice", "bob"], counts: { ALLOW: 2 } });
    expect((answer.body["recent"] as { subject: string }[]).map((d) => d.subject)).toEqual(["bob", "alice"]);
  });

  it("shows an agent's budget use against its limits, as its newest allowed decision left each counter", async () => {
    const payer = await t.issuer.token({ sub: "erin", client_id: "agent-pay", scope: "payments:write", client_type: "web" });
    for (const amount of [300, 200]) {
      const response = await t.client.check({ token: payer, action: "payments:transfer", resource: { type: "account", id: "acc-1" }, context: { amount } });
      expect(response.decision).toBe("ALLOW");
    }
    await t.verdict.audit?.flush();
    const answer = await call("/console/api/agents/agent-pay");
    const usage = answer.body["usage"] as { type: string; key: string; total: number; limit: number; window: string }[];
    const daily = usage.find((u) => u.type === "reserve" && u.key.includes("daily_per_user"));
    expect(daily).toMatchObject({ total: 500, limit: 1000 });
  });

  it("suspends and resumes an agent for an operator with console:suspend, and not for a reader", async () => {
    const reader = await consoleToken(t.issuer, "console:read");
    expect((await call("/console/api/agents/agent-z/suspend", { token: reader, method: "POST", body: { reason: "runaway" } })).status).toBe(403);
    const agentToken = await t.issuer.token({ sub: "zoe", client_id: "agent-z", client_type: "ai-agent", scope: "invoices:read" });
    const suspended = await call("/console/api/agents/agent-z/suspend", { method: "POST", body: { reason: "runaway" } });
    expect(suspended.status).toBe(200);
    expect(suspended.body["suspension"]).toMatchObject({ kind: "agent", client_id: "agent-z", reason: "runaway", source: "admin" });
    expect(await t.client.check({ token: agentToken, action: "invoices:read" })).toMatchObject({
      decision: "DENY",
      reasons: [{ code: "principal_suspended" }],
    });
    const resumed = await call("/console/api/agents/agent-z/resume", { method: "POST", body: { reason: "fixed" } });
    expect(resumed).toMatchObject({ status: 200, body: { resumed: 1 } });
    expect((await t.client.check({ token: agentToken, action: "invoices:read" })).decision).toBe("ALLOW");
  });
});

describe("an agent whose client_id is long (it chooses its own: a client-id metadata document's URL)", () => {
  it("is opened, suspended and resumed from the console like any other, up to 512 characters", async () => {
    const clientId = `https://agents.example/${"x".repeat(140)}`;
    const path = `/console/api/agents/${encodeURIComponent(clientId)}`;
    const agentToken = await t.issuer.token({ sub: "yan", client_id: clientId, client_type: "ai-agent", scope: "invoices:read" });
    expect((await t.client.check({ token: agentToken, action: "invoices:read" })).decision).toBe("ALLOW");
    expect((await call(path)).status).toBe(200);
    const suspended = await call(`${path}/suspend`, { method: "POST", body: { reason: "runaway" } });
    expect(suspended).toMatchObject({ status: 200, body: { suspension: { kind: "agent", client_id: clientId } } });
    expect((await t.client.check({ token: agentToken, action: "invoices:read" })).reasons.map((r) => r.code)).toEqual(["principal_suspended"]);
    expect(await call(`${path}/resume`, { method: "POST", body: { reason: "fixed" } })).toMatchObject({ status: 200, body: { resumed: 1 } });
  });
});

describe("the policy playground", () => {
  const transfer = (amount: number, state: Record<string, unknown> = {}) => ({
    principal: { subject: "alice", client_id: "web-app", client_type: "web", scopes: ["payments:write"] },
    action: "payments:transfer",
    resource: { type: "account", id: "acc-1" },
    context: { amount },
    state,
  });

  it("shows the active and the shadow bundle's decisions side by side", async () => {
    const answer = await call("/console/api/playground", { method: "POST", body: transfer(400) });
    expect(answer.status).toBe(200);
    expect(answer.body["active"]).toMatchObject({ revision: t.verdict.policyRevision, decision: { effect: "allow", reasons: [] } });
    expect((answer.body["active"] as { decision: { obligations: unknown[] } }).decision.obligations.length).toBeGreaterThan(0);
    expect(answer.body["shadow"]).toMatchObject({ decision: { effect: "deny", reasons: [{ code: "limit_exceeded" }] } });
    expect((answer.body["active"] as { state_queries: unknown[] }).state_queries.length).toBeGreaterThan(0);
  });

  it("decides with the state the operator gives it", async () => {
    const queries = (await call("/console/api/playground", { method: "POST", body: transfer(400) })).body["active"] as { state_queries: { name: string }[] };
    const spent = Object.fromEntries(queries.state_queries.map((q) => [q.name, 900]));
    const answer = await call("/console/api/playground", { method: "POST", body: transfer(400, spent) });
    expect(answer.body["active"]).toMatchObject({ decision: { effect: "deny", reasons: [{ code: "limit_exceeded" }] } });
  });

  it("writes nothing: no state, no audit record", async () => {
    const mongo = await connectTestClient();
    try {
      const db = mongo.db(t.database);
      const before = await Promise.all(
        (await db.listCollections().toArray()).map(async (c) => [c.name, await db.collection(c.name).countDocuments()] as const),
      );
      for (let i = 0; i < 3; i++) expect((await call("/console/api/playground", { method: "POST", body: transfer(100 + i) })).status).toBe(200);
      await t.verdict.audit?.flush();
      const after = await Promise.all((await db.listCollections().toArray()).map(async (c) => [c.name, await db.collection(c.name).countDocuments()] as const));
      expect(Object.fromEntries(after)).toEqual(Object.fromEntries(before));
    } finally {
      await mongo.close();
    }
  });

  it("refuses an input that does not fit, with a message", async () => {
    const answer = await call("/console/api/playground", {
      method: "POST",
      body: { principal: { subject: "a" }, action: "x", resource: { type: "t", id: "i" } },
    });
    expect(answer.status).toBe(400);
    expect(answer.body["message"]).toMatch(/client_id/);
  });

  it("holds context, resource.attributes and state to a Check's bounds (depth, values, size), and keeps serving", async () => {
    // Only console:evaluate; a context of 10,000 nested arrays (about 20 kB) once stopped the process.
    const evaluator = await consoleToken(t.issuer, "console:evaluate");
    const nested = `{"principal":{"subject":"alice","client_id":"web-app"},"action":"payments:transfer","resource":{"type":"account","id":"acc-1"},"context":{"deep":${"[".repeat(10_000)}${"]".repeat(10_000)}}}`;
    const deep = await call("/console/api/playground", { token: evaluator, method: "POST", body: nested });
    expect([deep.status, deep.body]).toEqual([400, { error: "invalid_request", message: expect.stringMatching(/^context is nested deeper than 8 levels/) }]);
    const input = transfer(400);
    const refusals = [
      [
        { ...input, resource: { ...input.resource, attributes: { ids: Array.from({ length: 2_001 }, (_, i) => i) } } },
        /^resource.attributes has more than 2000 values/,
      ],
      [{ ...input, context: Object.fromEntries(Array.from({ length: 5 }, (_, i) => [`note${i}`, "x".repeat(8_000)])) }, /^context is larger than 32768 bytes/],
      [{ ...input, state: { spent: [[[[[[[[[900]]]]]]]]] } }, /^state is nested deeper than 8 levels/],
    ] as const;
    for (const [body, message] of refusals) {
      const answer = await call("/console/api/playground", { token: evaluator, method: "POST", body });
      expect([answer.status, answer.body]).toEqual([400, { error: "invalid_request", message: expect.stringMatching(message) }]);
    }
    expect((await call("/console/api/playground", { token: evaluator, method: "POST", body: input })).status).toBe(200);
  });
});

describe("a large trail", () => {
  it("computes a chart at most once in 5 seconds however many operators ask", async () => {
    const first = await call("/console/api/stats?since=3h");
    await t.client.check({ token: await t.issuer.token({ sub: "frank", client_id: "agent-z", client_type: "ai-agent" }), action: "invoices:read" });
    await t.verdict.audit?.flush();
    const other = await call("/console/api/stats?since=3h", { token: await consoleToken(t.issuer, "console:read", { sub: "ops-2" }) });
    expect(other.body["sampled"]).toBe(first.body["sampled"]);
    // Another query is its own summary, read now.
    const fresh = await call("/console/api/stats?since=4h");
    expect(fresh.body["sampled"]).toBe((first.body["sampled"] as number) + 1);
  });

  it("charts and lists agents from at most 5,000 records, and says so", async () => {
    const mongo = await connectTestClient();
    try {
      const now = Date.now();
      const records = Array.from({ length: 5_100 }, (_, i) => ({
        _id: `bulk-${i}`,
        time: new Date(now - 1_000 - i),
        expires_at: new Date(now + 86_400_000),
        caller: { api: "invoices-api", audience: "https://invoices.example" },
        subject: `user-${i % 50}`,
        client_id: `bulk-agent-${i % 7}`,
        actors: [],
        action: "invoices:read",
        decision: "ALLOW",
        reasons: [],
        obligations: [],
        policy_revision: "r",
        latency_ms: 1,
        request_id: "",
        token: {},
        dry_run: false,
        resource: { type: "invoice", id: "x", attributes: {} },
        context: {},
      }));
      await mongo
        .db(t.database)
        .collection("decisions")
        .insertMany(records as never[]);
    } finally {
      await mongo.close();
    }
    const stats = await call("/console/api/stats?since=2h");
    expect(stats.body).toMatchObject({ sampled: 5_000, truncated: true });
    const agents = await call("/console/api/agents?since=2h");
    expect(agents.body).toMatchObject({ sampled: 5_000, truncated: true });
    const page = await call("/console/api/decisions?limit=200");
    expect(page.body["decisions"]).toHaveLength(200);
    expect(page.body["next_page_token"]).toEqual(expect.any(String));
  });
});
