// AuthZEN is an edge, not a second pipeline: with the shipped policies (the invoices
// demo), an AuthZEN evaluation gets the decision gRPC Check gives for the same token
// and request, shares its real-time state and its audit trail, and nothing a PEP
// sends makes a decision true that Check would deny.
import { randomBytes, randomUUID } from "node:crypto";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { JsonObject } from "@verdict/sdk/wire";
import type { MongoClient } from "mongodb";
import { inject } from "vitest";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { hashApiKey } from "../../src/server/index.js";
import { AuthzenClient, startAuthzenVerdict, type AuthzenVerdict } from "../support/authzen.js";
import { TEST_AUDIENCE, TEST_SCOPES } from "../support/issuer.js";
import { connectTestClient } from "../support/mongo.js";

const key = () => `vdk_test_${randomBytes(16).toString("hex")}`;
const keys = { invoices: key(), gateway: key() };

let v: AuthzenVerdict;
let mongo: MongoClient;
/** invoices-api: forwards the user's token in context.access_token; never vouches for subjects. */
let pep: AuthzenClient;
/** gateway: forwards a token in subject.properties.token when it has one, else vouches for the subject. */
let gateway: AuthzenClient;

beforeAll(async () => {
  // A directory: 50 invoices, and two actions, for the searches.
  const directory = join(mkdtempSync(join(tmpdir(), "verdict-authzen-directory-")), "directory.json");
  writeFileSync(
    directory,
    JSON.stringify({
      resources: Array.from({ length: 50 }, (_, i) => ({ type: "invoice", id: `inv-${String(i).padStart(2, "0")}` })),
      actions: [{ name: "invoices:read" }, { name: "payments:transfer" }],
    }),
  );
  v = await startAuthzenVerdict({
    apiKey: keys.invoices,
    config: {
      bundle: inject("bundlePath"),
      apis: [
        { name: "invoices-api", audience: TEST_AUDIENCE, key_sha256: hashApiKey(keys.invoices), scopes: [...TEST_SCOPES] },
        { name: "gateway", audience: "https://gateway.example", key_sha256: hashApiKey(keys.gateway), scopes: [...TEST_SCOPES] },
      ],
      audit: { flush_interval_ms: 10 },
    },
    authzen: {
      directory: [directory],
      apis: [
        { name: "invoices-api", token: { in: "context", property: "access_token" } },
        { name: "gateway", trust_asserted_subjects: true, token: { in: "subject.properties", property: "token" } },
      ],
    },
  });
  pep = v.client;
  gateway = new AuthzenClient(v.url, { ca: v.ca.certPem, apiKey: keys.gateway });
  mongo = await connectTestClient();
});
afterAll(async () => {
  await v?.stop();
  await mongo?.close();
});

const evaluation = (token: string, sub: string, action: string, context: object = {}, resource = { type: "invoice", id: "inv-1" }) =>
  pep.post("/access/v1/evaluation", { subject: { type: "user", id: sub }, action: { name: action }, resource, context: { ...context, access_token: token } });

describe("a forwarded access token", () => {
  const cases: [string, Record<string, unknown>, string, JsonObject][] = [
    ["reading with invoices:read", { scope: "invoices:read" }, "invoices:read", {}],
    ["disputing without invoices:write", { scope: "invoices:read" }, "invoices:dispute", {}],
    ["disputing without MFA", { scope: "invoices:write", acr: "pwd" }, "invoices:dispute", {}],
    ["disputing with MFA", { scope: "invoices:write", acr: "mfa", auth_time: Math.floor(Date.now() / 1000) }, "invoices:dispute", {}],
    ["closing an account without a fresh phishing-resistant login", { scope: "accounts:write", acr: "mfa" }, "accounts:close", {}],
    ["an agent's transfer above its step-up threshold", { scope: "payments:write", client_type: "ai-agent" }, "payments:transfer", { amount: 150 }],
  ];
  for (const [name, claims, action, context] of cases) {
    it(`gets the decision Check gives: ${name}`, async () => {
      const sub = `user-${randomUUID()}`;
      const token = await v.t.issuer.token({ sub, ...claims });
      const check = await v.t.client.check({ token, action, resource: { type: "invoice", id: "inv-1" }, context });
      const answer = await evaluation(token, sub, action, context);
      expect(answer.status).toBe(200);
      expect(answer.json.decision).toBe(check.decision === "ALLOW");
      if (check.decision !== "ALLOW") {
        expect(answer.json.context?.effect).toBe(check.decision === "STEP_UP" ? "step_up" : "deny");
        expect(answer.json.context?.reasons?.map((r) => r.code)).toEqual(check.reasons.map((r) => r.code));
        expect(answer.json.context?.challenge).toBe(check.challenge?.error);
      }
      if (check.decision === "STEP_UP") {
        expect(answer.json.context?.acr_values).toBe(check.challenge?.acr_values.join(" "));
        expect(answer.json.context?.max_age).toBe(check.challenge?.max_age);
      }
    });
  }

  it("carries acr_values and max_age for a step-up", async () => {
    const token = await v.t.issuer.token({ sub: "closer", scope: "accounts:write", acr: "mfa" });
    const answer = await evaluation(token, "closer", "accounts:close");
    expect(answer.json).toMatchObject({
      decision: false,
      context: { effect: "step_up", challenge: "insufficient_user_authentication", acr_values: "phr", max_age: 300 },
    });
  });

  it("says how long an agent's rate stays full, as Check does", async () => {
    const sub = `user-${randomUUID()}`;
    const token = await v.t.issuer.token({ sub, scope: "invoices:read", client_id: `agent-${randomUUID()}`, client_type: "ai-agent" });
    // the demo policy allows an agent 120 requests a minute (a sliding window of one-second buckets)
    const reads = await Promise.all(
      Array.from({ length: 120 }, () => v.t.client.check({ token, action: "invoices:read", resource: { type: "invoice", id: "inv-1" } })),
    );
    expect(reads.every((read) => read.decision === "ALLOW")).toBe(true);
    const answer = await evaluation(token, sub, "invoices:read");
    expect(answer.json).toMatchObject({ decision: false, context: { effect: "deny", reasons: [{ code: "rate_limited" }] } });
    const retryAfterMs = answer.json.context?.retry_after_ms;
    expect(retryAfterMs).toBeGreaterThan(30_000);
    expect(retryAfterMs).toBeLessThanOrEqual(61_000);
  });

  it("names the missing scope for an insufficient_scope denial", async () => {
    const token = await v.t.issuer.token({ sub: "reader", scope: "invoices:read" });
    const answer = await evaluation(token, "reader", "invoices:dispute");
    expect(answer.json.context).toMatchObject({ effect: "deny", challenge: "insufficient_scope", scope: "invoices:write" });
  });

  it("is verified exactly as for Check: an expired token is false with its reason", async () => {
    const token = await v.t.issuer.token({ sub: "late", exp: Math.floor(Date.now() / 1000) - 3600 });
    const answer = await evaluation(token, "late", "invoices:read");
    expect(answer.json).toMatchObject({ decision: false, context: { reasons: [{ code: "token_expired" }], challenge: "invalid_token" } });
  });

  it("must belong to the subject the request names", async () => {
    const token = await v.t.issuer.token({ sub: "alice", scope: "invoices:read" });
    const answer = await evaluation(token, "mallory", "invoices:read");
    expect(answer.json).toMatchObject({ decision: false, context: { reasons: [{ code: "subject_mismatch" }] } });
  });

  it("must be a string", async () => {
    const answer = await pep.post("/access/v1/evaluation", {
      subject: { type: "user", id: "a" },
      action: { name: "invoices:read" },
      resource: { type: "invoice", id: "i" },
      context: { access_token: 42 },
    });
    expect([answer.status, answer.json.error]).toEqual([400, "invalid_request"]);
  });

  it("can travel in subject.properties when the configuration says so, and must be for the calling API", async () => {
    const ask = (token: string) =>
      gateway.post("/access/v1/evaluation", {
        subject: { type: "user", id: "gw-user", properties: { token } },
        action: { name: "invoices:read" },
        resource: { type: "invoice", id: "i" },
      });
    const forGateway = await v.t.issuer.token({ sub: "gw-user", scope: "invoices:read", aud: "https://gateway.example" });
    expect((await ask(forGateway)).json).toEqual({ decision: true });
    const forInvoices = await v.t.issuer.token({ sub: "gw-user", scope: "invoices:read" });
    expect((await ask(forInvoices)).json).toMatchObject({ decision: false, context: { reasons: [{ code: "audience_mismatch" }] } });
  });

  it("is never taken over by an asserted subject when it fails, even for an API that may assert subjects", async () => {
    const answer = await gateway.post("/access/v1/evaluation", {
      subject: { type: "user", id: "gw-user", properties: { token: "not-a-jwt" } },
      action: { name: "invoices:read" },
      resource: { type: "invoice", id: "i" },
    });
    expect(answer.json).toMatchObject({ decision: false, context: { reasons: [{ code: "token_malformed" }] } });
  });

  it("is never taken over by an asserted subject when it is forwarded empty, even for an API that may assert subjects", async () => {
    // a PEP that copies a header the client left empty: not "no token", which would let the PEP's word decide
    const answer = await gateway.post("/access/v1/evaluation", {
      subject: { type: "user", id: "gw-user", properties: { token: "" } },
      action: { name: "invoices:read" },
      resource: { type: "invoice", id: "i" },
    });
    expect([answer.status, answer.json.error]).toEqual([400, "invalid_request"]);
    expect(answer.json.message).toContain("subject.properties.token is empty");
  });

  it("is not dropped by a batch item that names its own context: that item is invalid_request, the others are decided", async () => {
    const token = await v.t.issuer.token({ sub: "batcher", scope: "invoices:read" });
    const answer = await pep.post("/access/v1/evaluations", {
      subject: { type: "user", id: "batcher" },
      action: { name: "invoices:read" },
      resource: { type: "invoice", id: "inv-1" },
      context: { access_token: token },
      evaluations: [{}, { context: { amount: 1 } }, { context: { amount: 1, access_token: token } }, { resource: { type: "invoice", id: "inv-2" } }],
    });
    expect(answer.status).toBe(200);
    const [inherits, replaces, carries, other] = answer.json.evaluations ?? [];
    expect(inherits).toEqual({ decision: true });
    expect(replaces).toMatchObject({ decision: false, context: { error: { status: 400, code: "invalid_request" } } });
    expect(replaces?.context?.error?.message).toBe(
      "evaluations[1].context replaces the request's context, and the access token with it: forward the token in the item's context.access_token too",
    );
    expect(carries).toEqual({ decision: true });
    expect(other).toEqual({ decision: true });
  });

  it("is not dropped by a batch item that names its own subject, even for an API that may assert subjects", async () => {
    const token = await v.t.issuer.token({ sub: "gw-user", scope: "invoices:read", aud: "https://gateway.example" });
    const answer = await gateway.post("/access/v1/evaluations", {
      subject: { type: "user", id: "gw-user", properties: { token } },
      action: { name: "invoices:read" },
      resource: { type: "invoice", id: "inv-1" },
      evaluations: [
        {},
        // without the token, this item would be decided as the gateway's word for gw-user
        { subject: { type: "user", id: "gw-user" } },
        { subject: { type: "user", id: "gw-user", properties: { department: "finance" } } },
        { subject: { type: "user", id: "gw-user", properties: { token } } },
      ],
    });
    expect(answer.status).toBe(200);
    const [inherits, bare, otherProperties, carries] = answer.json.evaluations ?? [];
    expect(inherits).toEqual({ decision: true });
    for (const item of [bare, otherProperties]) {
      expect(item).toMatchObject({ decision: false, context: { error: { status: 400, code: "invalid_request" } } });
    }
    expect(bare?.context?.error?.message).toBe(
      "evaluations[1].subject replaces the request's subject, and the access token with it: forward the token in the item's subject.properties.token too",
    );
    expect(carries).toEqual({ decision: true });
  });
});

describe("without a token", () => {
  it("an API that does not vouch for subjects gets token_missing, as Check would", async () => {
    const answer = await pep.post("/access/v1/evaluation", {
      subject: { type: "user", id: "alice" },
      action: { name: "invoices:read" },
      resource: { type: "invoice", id: "i" },
    });
    expect(answer.json).toMatchObject({ decision: false, context: { reasons: [{ code: "token_missing" }], challenge: "invalid_token" } });
  });

  it("an asserted subject has no scopes, so a policy that wants token evidence still denies, whatever the PEP sends", async () => {
    const forged = {
      scopes: ["invoices:read", "invoices:write", "payments:write", "accounts:write"],
      scope: "invoices:read invoices:write",
      acr: "phr",
      auth_time: Math.floor(Date.now() / 1000),
      client_type: "user",
    };
    const actions = ["invoices:read", "invoices:dispute", "invoices:update", "invoices:delete", "payments:transfer", "customers:export", "accounts:close"];
    const answer = await gateway.post("/access/v1/evaluations", {
      subject: { type: "user", id: "alice", properties: forged },
      resource: { type: "invoice", id: "inv-1", properties: { owner: "alice" } },
      context: { amount: 1, principal: { scopes: forged.scopes }, scopes: forged.scopes },
      evaluations: actions.map((name) => ({ action: { name, properties: { scopes: forged.scopes } } })),
    });
    expect(answer.status).toBe(200);
    expect(answer.json.evaluations?.map((e) => e.decision)).toEqual(actions.map(() => false));
  });

  it("Subject Search is refused to an API that does not vouch for subjects", async () => {
    const answer = await pep.post("/access/v1/search/subject", {
      subject: { type: "user" },
      action: { name: "invoices:read" },
      resource: { type: "invoice", id: "i" },
    });
    expect([answer.status, answer.json.error]).toEqual([403, "asserted_subjects_not_trusted"]);
  });
});

describe("one state, one audit trail", () => {
  it("reserves from the same daily budget as Check: AuthZEN, Check, AuthZEN at 400 each against 1000", async () => {
    const sub = `payer-${randomUUID()}`;
    const token = await v.t.issuer.token({ sub, scope: "payments:write" });
    const first = await evaluation(token, sub, "payments:transfer", { amount: 400 }, { type: "account", id: "acc-1" });
    const viaCheck = await v.t.client.check({ token, action: "payments:transfer", resource: { type: "account", id: "acc-1" }, context: { amount: 400 } });
    const third = await evaluation(token, sub, "payments:transfer", { amount: 400 }, { type: "account", id: "acc-1" });
    expect(first.json.decision).toBe(true);
    expect(first.json.context?.decision_id).toMatch(/^[0-9a-f-]{36}$/); // what Release takes
    expect(viaCheck.decision).toBe("ALLOW");
    expect(viaCheck.obligations[0]?.total).toBe(800);
    expect(third.json).toMatchObject({ decision: false, context: { reasons: [{ code: "limit_exceeded" }] } });
  });

  it("records every AuthZEN decision in the audit trail with its X-Request-ID, and never the token", async () => {
    const sub = `audited-${randomUUID()}`;
    const token = await v.t.issuer.token({ sub, scope: "invoices:read" });
    const requestId = `authzen-${randomUUID()}`;
    const answer = await pep.post(
      "/access/v1/evaluations",
      {
        subject: { type: "user", id: sub },
        context: { access_token: token, channel: "web" },
        evaluations: [
          { action: { name: "invoices:read" }, resource: { type: "invoice", id: "inv-7" } },
          { action: { name: "invoices:delete" }, resource: { type: "invoice", id: "inv-7" } },
        ],
      },
      { "x-request-id": requestId },
    );
    expect(answer.json.evaluations?.map((e) => e.decision)).toEqual([true, false]);
    await v.t.verdict.audit?.flush();
    const records = await mongo.db(v.t.database).collection("decisions").find({ request_id: requestId }).sort({ action: 1 }).toArray();
    expect(records.map((r) => [r["action"], r["decision"], r["subject"], r["caller"]?.api])).toEqual([
      ["invoices:delete", "DENY", sub, "invoices-api"],
      ["invoices:read", "ALLOW", sub, "invoices-api"],
    ]);
    expect(records[0]?.["context"]).toEqual({ channel: "web" });
    expect(records[0]?.["token"]?.sha256).toMatch(/^[0-9a-f]{64}$/);
    expect(JSON.stringify(records)).not.toContain(token);
  });

  it("records a PEP-asserted subject as such", async () => {
    const requestId = `asserted-${randomUUID()}`;
    await gateway.post(
      "/access/v1/evaluation",
      { subject: { type: "user", id: "bob" }, action: { name: "invoices:read" }, resource: { type: "invoice", id: "i" } },
      { "x-request-id": requestId },
    );
    await v.t.verdict.audit?.flush();
    const record = await mongo.db(v.t.database).collection("decisions").findOne({ request_id: requestId });
    expect(record).toMatchObject({ subject: "bob", issuer: "urn:verdict:authzen:asserted", client_id: "gateway", decision: "DENY" });
  });

  it("a short circuit never evaluates the items after the one that settles it", async () => {
    const sub = `short-${randomUUID()}`;
    const token = await v.t.issuer.token({ sub, scope: "payments:write" });
    const requestId = `short-${randomUUID()}`;
    const answer = await pep.post(
      "/access/v1/evaluations",
      {
        subject: { type: "user", id: sub },
        action: { name: "payments:transfer" },
        resource: { type: "account", id: "acc-1" },
        options: { evaluations_semantic: "deny_on_first_deny" },
        evaluations: [{ context: { access_token: token, amount: 600 } }, { context: { access_token: token, amount: 100 } }],
      },
      { "x-request-id": requestId },
    );
    expect(answer.json.evaluations?.map((e) => e.decision)).toEqual([false]);
    await v.t.verdict.audit?.flush();
    expect(await mongo.db(v.t.database).collection("decisions").countDocuments({ request_id: requestId })).toBe(1);
    // Nothing was reserved for the item that was never evaluated: the whole budget is left.
    const check = await v.t.client.check({ token, action: "payments:transfer", resource: { type: "account", id: "acc-1" }, context: { amount: 500 } });
    expect(check.obligations[0]?.total).toBe(500);
  });

  it("a search is a dry run: it reserves nothing", async () => {
    const sub = `searcher-${randomUUID()}`;
    const token = await v.t.issuer.token({ sub, scope: "payments:write" });
    const answer = await pep.post("/access/v1/search/action", {
      subject: { type: "user", id: sub },
      resource: { type: "account", id: "acc-1" },
      context: { access_token: token, amount: 400 },
    });
    expect(answer.json.results).toEqual([{ name: "payments:transfer" }]);
    const check = await v.t.client.check({ token, action: "payments:transfer", resource: { type: "account", id: "acc-1" }, context: { amount: 400 } });
    expect(check.obligations[0]?.total).toBe(400);
  });

  it("a search evaluates each candidate with the user's token", async () => {
    const token = await v.t.issuer.token({ sub: "lister", scope: "invoices:read" });
    const answer = await pep.post("/access/v1/search/resource", {
      subject: { type: "user", id: "lister" },
      action: { name: "invoices:read" },
      resource: { type: "invoice" },
      context: { access_token: token },
    });
    expect(answer.json.results).toHaveLength(50);
    const writer = await v.t.issuer.token({ sub: "lister", scope: "invoices:write" });
    const none = await pep.post("/access/v1/search/resource", {
      subject: { type: "user", id: "lister" },
      action: { name: "invoices:read" },
      resource: { type: "invoice" },
      context: { access_token: writer },
    });
    expect(none.json.results).toEqual([]);
  });

  it("a search whose token does not verify ends early, with the reason in its context", async () => {
    const requestId = `bad-search-${randomUUID()}`;
    const answer = await pep.post(
      "/access/v1/search/resource",
      { subject: { type: "user", id: "x" }, action: { name: "invoices:read" }, resource: { type: "invoice" }, context: { access_token: "not-a-jwt" } },
      { "x-request-id": requestId },
    );
    expect(answer.status).toBe(200);
    expect(answer.json).toMatchObject({ results: [], page: { next_token: "" }, context: { reasons: [{ code: "token_malformed" }] } });
    await v.t.verdict.audit?.flush();
    // One group of candidates was evaluated, not the 50.
    expect(await mongo.db(v.t.database).collection("decisions").countDocuments({ request_id: requestId })).toBeLessThanOrEqual(16);
  });
});
