// The audit trail as callers and tools see it: Check over gRPC writes one record per
// decision into MongoDB, AuditService.Query reads them back, scoped to the caller.
import { randomBytes } from "node:crypto";
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as grpc from "@grpc/grpc-js";
import type { CheckResponseMessage, DecisionRecordMessage } from "@verdict/sdk/wire";
import type { MongoClient } from "mongodb";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { hashApiKey } from "../../src/server/index.js";
import { AuditTestClient } from "../support/audit-client.js";
import { TestClient } from "../support/grpc.js";
import { TEST_AUDIENCE, TEST_SCOPES } from "../support/issuer.js";
import { captureLog } from "../support/log.js";
import { connectTestClient } from "../support/mongo.js";
import { startTestVerdict, type TestVerdict } from "../support/verdict.js";

const BILLING_AUDIENCE = "https://billing.example";
const key = () => `vdk_test_${randomBytes(16).toString("hex")}`;
const keys = { invoices: key(), billing: key(), ops: key() };

let t: TestVerdict;
let mongo: MongoClient;
let invoices: TestClient;
let billing: TestClient;
const audit = { invoices: null as unknown as AuditTestClient, billing: null as unknown as AuditTestClient, ops: null as unknown as AuditTestClient };

beforeAll(async () => {
  t = await startTestVerdict({
    config: {
      apis: [
        { name: "invoices-api", audience: TEST_AUDIENCE, key_sha256: hashApiKey(keys.invoices), scopes: [...TEST_SCOPES] },
        { name: "billing", audience: BILLING_AUDIENCE, key_sha256: hashApiKey(keys.billing), scopes: [...TEST_SCOPES] },
        { name: "ops-console", audience: "https://ops.example", key_sha256: hashApiKey(keys.ops), scopes: [...TEST_SCOPES] },
      ],
      audit: { query_grants: { "ops-console": ["*"] }, flush_interval_ms: 10 },
    },
  });
  invoices = new TestClient(t.address, keys.invoices);
  billing = new TestClient(t.address, keys.billing);
  audit.invoices = new AuditTestClient(t.address, keys.invoices);
  audit.billing = new AuditTestClient(t.address, keys.billing);
  audit.ops = new AuditTestClient(t.address, keys.ops);
  mongo = await connectTestClient();
});

afterAll(async () => {
  for (const client of [invoices, billing, ...Object.values(audit)]) client?.close();
  await t?.stop();
  await mongo?.close();
});

const recordOf = async (response: CheckResponseMessage, as: AuditTestClient = audit.invoices): Promise<DecisionRecordMessage> => {
  await t.verdict.audit?.flush();
  const { records } = await as.query({ since: "1h", limit: 1000 });
  const found = records.filter((r) => r.decision_id === response.decision_id);
  expect(found).toHaveLength(1);
  return found[0] as DecisionRecordMessage;
};

describe("every decision is a record", () => {
  it("records each item of a CheckBatch as its own decision", async () => {
    const token = await t.issuer.token({ sub: "bea", scope: "invoices:read" });
    const batch = await invoices.checkBatch({
      token,
      items: [{ action: "invoices:read" }, { action: "invoices:dispute" }, { action: "bad action" }, { action: "invoices:read" }],
    });
    if (!batch.ok) throw new Error(batch.details);
    const decided = batch.response.results.flatMap((r) => (r.response ? [r.response] : []));
    expect(decided).toHaveLength(3); // the malformed item was not decided, so it has no record
    const records = await Promise.all(decided.map((response) => recordOf(response)));
    expect(records.map((r) => [r.subject, r.action, r.decision])).toEqual([
      ["bea", "invoices:read", "ALLOW"],
      ["bea", "invoices:dispute", "DENY"],
      ["bea", "invoices:read", "ALLOW"],
    ]);
  });

  it("records an allowed read: caller, subject, agent, actor chain (each actor's iss too), action, resource, revision, latency, request id, jti and token hash", async () => {
    const act = { sub: "planner", client_id: "planner-agent", iss: "https://agents.example" };
    const token = await t.issuer.token({ sub: "alice", client_id: "agent-1", client_type: "ai-agent", act });
    const response = await invoices.check({ token, action: "invoices:read", resource: { type: "invoice", id: "inv-9" }, requestId: "req-read-1" });
    expect(response.decision).toBe("ALLOW");
    expect(response.principal?.actors).toEqual([{ subject: "planner", client_id: "planner-agent", issuer: "https://agents.example" }]);
    const record = await recordOf(response);
    expect(record).toMatchObject({
      caller: { api: "invoices-api", audience: TEST_AUDIENCE },
      subject: "alice",
      client_id: "agent-1",
      client_type: "ai-agent",
      actors: [{ subject: "planner", client_id: "planner-agent", issuer: "https://agents.example" }],
      action: "invoices:read",
      resource: { type: "invoice", id: "inv-9" },
      decision: "ALLOW",
      reasons: [],
      obligations: [
        // an AI agent's request is rate counted (policy library: rates.rego), and the record shows it
        { type: "rate", key: `rate/user/${encodeURIComponent(t.issuer.issuer)}/alice`, amount: 1, limit: 300, window: "sliding:60", total: 1 },
        { type: "rate", key: `rate/agent/${encodeURIComponent(t.issuer.issuer)}/agent-1`, amount: 1, limit: 120, window: "sliding:60", total: 1 },
      ],
      policy_revision: response.policy_revision,
      request_id: "req-read-1",
      token_id: response.principal?.token_id,
      token_sha256: expect.stringMatching(/^[0-9a-f]{64}$/),
      issuer: t.issuer.issuer,
      scopes: ["invoices:read"],
    });
    expect(record.latency_ms).toBeGreaterThan(0);
    expect(Date.parse(record.time)).toBeGreaterThan(Date.now() - 60_000);
    expect(Date.parse(record.expires_at) - Date.parse(record.time)).toBe(90 * 86_400_000);
  });

  it("records a request id made up by Verdict when the caller sends none", async () => {
    const token = await t.issuer.token({ sub: "no-id" });
    const [first, second] = [await invoices.check({ token, action: "invoices:read" }), await invoices.check({ token, action: "invoices:read" })];
    const ids = [(await recordOf(first)).request_id, (await recordOf(second)).request_id];
    for (const id of ids) expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(ids[0]).not.toBe(ids[1]);
  });

  it("records a deny with its reason and challenge, a step-up with acr_values, and an invalid token by its hash only", async () => {
    const reader = await t.issuer.token({ scope: "invoices:read" });
    const writer = await t.issuer.token({ scope: "invoices:write", acr: "pwd" });
    const deny = await invoices.check({ token: reader, action: "invoices:dispute" });
    const stepUp = await invoices.check({ token: writer, action: "invoices:dispute" });
    const forged = `${reader.slice(0, reader.lastIndexOf(".") + 1)}${"A".repeat(86)}`;
    const invalid = await invoices.check({ token: forged, action: "invoices:read" });

    expect(await recordOf(deny)).toMatchObject({
      decision: "DENY",
      reasons: [{ code: "insufficient_scope" }],
      challenge: { error: "insufficient_scope", scopes: ["invoices:write"] },
    });
    expect(await recordOf(stepUp)).toMatchObject({
      decision: "STEP_UP",
      reasons: [{ code: "step_up_required" }],
      challenge: { error: "insufficient_user_authentication", acr_values: ["mfa"] },
    });
    const record = await recordOf(invalid);
    expect(record).toMatchObject({ decision: "DENY", reasons: [{ code: "signature_invalid" }], subject: "", client_id: "", token_id: "" });
    expect(record.token_sha256).toMatch(/^[0-9a-f]{64}$/);
  });

  it("counts repeated refusals of one token as one record, forged tokens per API and reason, and expired ones per token up to a bound", async () => {
    const reader = await t.issuer.token({ scope: "invoices:read" });
    const forge = (i: number) => `${reader.slice(0, reader.lastIndexOf(".") + 1)}${i.toString(16).padStart(86, "A")}`;
    await t.verdict.audit?.flush();
    const repeated = await Promise.all(
      Array.from({ length: 10 }, () => invoices.check({ token: forge(0), action: "invoices:read", requestId: "refused-again" })),
    );
    expect(repeated.every((r) => r.reasons[0]?.code === "signature_invalid")).toBe(true);
    await t.verdict.audit?.flush();
    const mine = async (requestId: string) => {
      const found: DecisionRecordMessage[] = [];
      let page_token = "";
      do {
        const page = await audit.invoices.query({ since: "1h", limit: 1000, page_token });
        found.push(...page.records.filter((r) => r.request_id === requestId));
        page_token = page.next_page_token;
      } while (page_token !== "");
      return found;
    };
    const [again, ...none] = await mine("refused-again");
    expect(none).toEqual([]);
    expect(repeated.map((r) => r.decision_id)).toContain(again?.decision_id);
    expect(again).toMatchObject({
      decision: "DENY",
      reasons: [{ code: "signature_invalid" }],
      count: 10,
      action: "invoices:read",
      caller: { api: "invoices-api" },
    });
    expect(again?.token_sha256).toMatch(/^[0-9a-f]{64}$/);
    expect(again?.distinct_tokens).toBe(1);
    expect(Date.parse(again?.last_time ?? "")).toBeGreaterThanOrEqual(Date.parse(again?.time ?? ""));

    // 300 distinct forged tokens: no issuer made them, so they are counted in one record, which keeps the first's hash
    const flood = await Promise.all(
      Array.from({ length: 300 }, (_, i) => invoices.check({ token: forge(i + 1), action: "invoices:read", requestId: "flood" })),
    );
    expect(flood.every((r) => r.reasons[0]?.code === "signature_invalid")).toBe(true);
    await t.verdict.audit?.flush();
    const [forged, ...more] = await mine("flood");
    expect(more).toEqual([]);
    expect(forged).toMatchObject({ count: 300, distinct_tokens: 300 });
    expect(flood.map((r) => r.decision_id)).toContain(forged?.decision_id);
    expect(forged?.token_sha256).toMatch(/^[0-9a-f]{64}$/);

    // 300 distinct expired tokens the issuer did sign: each of the first MAX_TOKENS (100) its own record, the rest counted together
    const at = Math.floor(Date.now() / 1000);
    const expired = await Promise.all(
      Array.from({ length: 300 }, (_, i) => t.issuer.token({ scope: "invoices:read", jti: `old-${i}`, exp: at - 3600, iat: at - 7200 })),
    );
    const refused = await Promise.all(expired.map((token) => invoices.check({ token, action: "invoices:read", requestId: "expired" })));
    expect(refused.every((r) => r.reasons[0]?.code === "token_expired")).toBe(true);
    await t.verdict.audit?.flush();
    const records = await mine("expired");
    expect(records).toHaveLength(101);
    expect(records.reduce((sum, r) => sum + r.count, 0)).toBe(300);
    expect(records.filter((r) => r.token_sha256 === "")).toMatchObject([{ count: 200, distinct_tokens: 200 }]);
  });

  it("records the obligations a transfer applied, with amounts, and the limit that stopped the next one", async () => {
    const token = await t.issuer.token({ scope: "payments:write", sub: "payer-1" });
    const first = await invoices.check({ token, action: "payments:transfer", resource: { type: "account", id: "acc-1" }, context: { amount: 400 } });
    const second = await invoices.check({ token, action: "payments:transfer", resource: { type: "account", id: "acc-1" }, context: { amount: 400 } });
    const third = await invoices.check({ token, action: "payments:transfer", resource: { type: "account", id: "acc-1" }, context: { amount: 400 } });
    expect((await recordOf(first)).obligations).toEqual([
      {
        type: "reserve",
        key: `payments%3Atransfer/daily_per_user/${encodeURIComponent(t.issuer.issuer)}/payer-1`,
        amount: 400,
        limit: 1000,
        window: "day",
        total: 400,
      },
    ]);
    expect((await recordOf(second)).obligations[0]).toMatchObject({ amount: 400, total: 800 });
    expect(await recordOf(third)).toMatchObject({ decision: "DENY", reasons: [{ code: "limit_exceeded" }], obligations: [] });
  });

  it("writes one record per decision into the decisions collection, and never the token", async () => {
    const tokens = await Promise.all(Array.from({ length: 20 }, (_, i) => t.issuer.token({ sub: `bulk-${i}` })));
    const responses = await Promise.all(tokens.map((token) => invoices.check({ token, action: "invoices:read", requestId: "bulk" })));
    await t.verdict.audit?.flush();
    const stored = await mongo.db(t.database).collection("decisions").find({ request_id: "bulk" }).toArray();
    expect(stored.map((d) => String(d._id)).sort()).toEqual(responses.map((r) => r.decision_id).sort());
    const text = JSON.stringify(await mongo.db(t.database).collection("decisions").find({}).toArray());
    for (const token of tokens) {
      expect(text).not.toContain(token);
      expect(text).not.toContain(token.split(".")[2]);
    }
  });

  it("stores the context masked, with $-prefixed and dotted keys kept safe and returned as sent", async () => {
    const token = await t.issuer.token({ scope: "payments:write", sub: "masked-1" });
    const response = await invoices.check({
      token,
      action: "payments:transfer",
      resource: { type: "account", id: "acc-2", attributes: { owner: { email: "owner@example.com" } } },
      context: { amount: 5, card_number: "4111 1111 1111 1111", password: "pw", note: "use 5555-5555-5555-4444", $where: "x", "payee.iban": "DE89" },
    });
    const record = await recordOf(response);
    expect(record.context).toEqual({ amount: 5, card_number: "[masked]", note: "[masked]", $where: "x", "payee.iban": "DE89" });
    expect(record.resource?.attributes).toEqual({ owner: { email: "[masked]" } });
    const raw = JSON.stringify(
      await mongo
        .db(t.database)
        .collection("decisions")
        .findOne({ _id: response.decision_id as never }),
    );
    for (const secret of ["4111 1111 1111 1111", "5555-5555-5555-4444", "owner@example.com", '"pw"']) expect(raw).not.toContain(secret);
    expect(raw).toContain('"%24where"');
    expect(raw).toContain('"payee%2Eiban"');
  });
});

describe("AuditService.Query", () => {
  beforeAll(async () => {
    const token = await t.issuer.token({ aud: BILLING_AUDIENCE, sub: "billing-user", client_id: "billing-agent" });
    await billing.check({ token, action: "invoices:read" });
    await t.verdict.audit?.flush();
  });

  it("shows an API its own records only", async () => {
    const own = await audit.invoices.query({ limit: 1000 });
    expect(own.records.length).toBeGreaterThan(0);
    expect(new Set(own.records.map((r) => r.caller?.api))).toEqual(new Set(["invoices-api"]));
    const theirs = await audit.billing.query({});
    expect(theirs.records.map((r) => r.subject)).toEqual(["billing-user"]);
  });

  it("refuses another API's records without a grant", async () => {
    expect(await audit.invoices.call({ api: "billing" })).toMatchObject({
      ok: false,
      code: grpc.status.PERMISSION_DENIED,
      details: expect.stringMatching(/audit.query_grants/),
    });
  });

  it("shows every API's records to an API granted *, and filters by API", async () => {
    const all = await audit.ops.query({ limit: 1000 });
    expect(new Set(all.records.map((r) => r.caller?.api))).toEqual(new Set(["invoices-api", "billing"]));
    expect((await audit.ops.query({ api: "billing" })).records.map((r) => r.client_id)).toEqual(["billing-agent"]);
  });

  it("shows suspension and approval events only to an API with their grant, one granted * included", async () => {
    for (const kind of ["suspension", "approval"]) {
      expect(await audit.ops.call({ kind })).toMatchObject({
        ok: false,
        code: grpc.status.PERMISSION_DENIED,
        details: expect.stringMatching(new RegExp(`may not read ${kind} events`)),
      });
    }
  });

  it("filters by subject, agent, action, decision and reason", async () => {
    expect((await audit.invoices.query({ subject: "alice" })).records.map((r) => r.action)).toEqual(["invoices:read"]);
    expect((await audit.invoices.query({ client_id: "agent-1", decision: "ALLOW" })).records).toHaveLength(1);
    expect((await audit.invoices.query({ action: "payments:transfer", reason: "limit_exceeded" })).records.map((r) => r.subject)).toEqual(["payer-1"]);
  });

  it("pages with next_page_token", async () => {
    const first = await audit.invoices.query({ limit: 5 });
    expect(first.records).toHaveLength(5);
    expect(first.next_page_token).not.toBe("");
    const second = await audit.invoices.query({ limit: 5, page_token: first.next_page_token });
    expect(second.records.map((r) => r.decision_id)).not.toContain(first.records[0]?.decision_id);
    expect(Date.parse(second.records[0]?.time ?? "")).toBeLessThanOrEqual(Date.parse(first.records[4]?.time ?? ""));
  });

  it("ends a page early, with a page token, when its records would not fit one response", async () => {
    const token = await t.issuer.token({ sub: "big-user" });
    const text = "x".repeat(8_000);
    await Promise.all(Array.from({ length: 40 }, () => invoices.check({ token, action: "invoices:read", context: { a: text, b: text, c: text } })));
    await t.verdict.audit?.flush();
    const seen: string[] = [];
    let pageToken = "";
    let pages = 0;
    do {
      const page = await audit.invoices.query({ subject: "big-user", limit: 1000, page_token: pageToken });
      expect(page.records.length).toBeLessThan(40);
      seen.push(...page.records.map((r) => r.decision_id));
      pageToken = page.next_page_token;
      pages += 1;
    } while (pageToken !== "" && pages < 40);
    expect(pages).toBeGreaterThan(1);
    expect(new Set(seen).size).toBe(40);
    expect(seen).toHaveLength(40);
  });

  it("refuses an unauthenticated caller and explains a bad filter", async () => {
    const anonymous = new AuditTestClient(t.address, null);
    expect(await anonymous.call({})).toMatchObject({ ok: false, code: grpc.status.UNAUTHENTICATED });
    anonymous.close();
    expect(await audit.invoices.call({ since: "yesterday" })).toMatchObject({
      ok: false,
      code: grpc.status.INVALID_ARGUMENT,
      details: expect.stringMatching(/since must be/),
    });
    expect(await audit.invoices.call({ decision: "MAYBE" })).toMatchObject({ ok: false, code: grpc.status.INVALID_ARGUMENT });
  });
});

describe("with audit.enabled: false", () => {
  it("records nothing and says so to AuditService callers", async () => {
    const off = await startTestVerdict({ config: { audit: { enabled: false } } });
    try {
      expect((await off.client.check({ token: await off.issuer.token(), action: "invoices:read" })).decision).toBe("ALLOW");
      expect(off.verdict.audit).toBeUndefined();
      expect(await mongo.db(off.database).collection("decisions").countDocuments()).toBe(0);
      const client = new AuditTestClient(off.address, off.apiKey);
      expect(await client.call({})).toMatchObject({ ok: false, code: grpc.status.FAILED_PRECONDITION });
      client.close();
    } finally {
      await off.stop();
    }
  });
});

describe("when no record can be kept", () => {
  it("denies with audit_unavailable, keeps serving, and decides again once the spill file can be written", async () => {
    const spillRoot = mkdtempSync(join(tmpdir(), "verdict-spill-"));
    const down = await startTestVerdict({
      mongoUri: "mongodb://127.0.0.1:1/?directConnection=true",
      config: {
        state_timeout_ms: 200,
        audit: { spill_dir: spillRoot, max_buffered: 3, batch_size: 3, flush_interval_ms: 5, write_timeout_ms: 200, retry_interval_ms: 100 },
      },
    });
    let stopped = false;
    try {
      // the spill directory of this database becomes unwritable
      const dir = join(spillRoot, down.database);
      rmSync(dir, { recursive: true });
      writeFileSync(dir, "");
      const token = await down.issuer.token();
      const answers: CheckResponseMessage[] = [];
      for (let i = 0; i < 30; i++) {
        answers.push(await down.client.check({ token, action: "invoices:read" }));
        if (answers.at(-1)?.reasons[0]?.code === "audit_unavailable") break;
        await new Promise((resolve) => setTimeout(resolve, 30));
      }
      const refused = answers.at(-1);
      expect(refused).toMatchObject({ decision: "DENY", reasons: [{ code: "audit_unavailable" }] });
      expect(answers.slice(0, -1).every((a) => a.decision === "ALLOW")).toBe(true);

      rmSync(dir);
      mkdirSync(dir);
      let again: CheckResponseMessage | undefined;
      for (let i = 0; i < 50 && again?.decision !== "ALLOW"; i++) {
        await new Promise((resolve) => setTimeout(resolve, 50));
        again = await down.client.check({ token, action: "invoices:read" });
      }
      expect(again?.decision).toBe("ALLOW");
      await down.stop();
      stopped = true;
      // every decision that was answered ALLOW is in the spill file; the refused one is nowhere
      const files = readdirSync(dir).filter((name) => name.endsWith(".jsonl"));
      const lines = files.flatMap((name) => readFileSync(join(dir, name), "utf8").split("\n").filter(Boolean));
      // each line is "<HMAC> <record as JSON>"
      const spilled = new Set(lines.map((line) => (JSON.parse(line.slice(line.indexOf(" ") + 1)) as { _id: string })._id));
      const allowed = [...answers, again].filter((a) => a?.decision === "ALLOW").map((a) => a?.decision_id);
      for (const id of allowed) expect(spilled.has(id as string)).toBe(true);
      expect(spilled.has(refused?.decision_id as string)).toBe(false);
    } finally {
      if (!stopped) await down.stop();
    }
  });
});

describe("the spill directory", () => {
  it("is tightened to 0700 when Verdict starts on one with loose permissions, and the log says so", async () => {
    const spillRoot = mkdtempSync(join(tmpdir(), "verdict-spill-"));
    chmodSync(spillRoot, 0o777);
    const captured = captureLog();
    const loose = await startTestVerdict({ log: captured.log, config: { audit: { spill_dir: spillRoot } } });
    try {
      expect(statSync(spillRoot).mode & 0o777).toBe(0o700);
      expect(statSync(join(spillRoot, loose.database)).mode & 0o777).toBe(0o700);
      expect(captured.lines().some((line) => line["level"] === 40 && /had mode 0777; tightened to 0700/.test(String(line["msg"])))).toBe(true);
    } finally {
      await loose.stop();
    }
  });

  it("refuses to start on a shared directory such as /tmp", async () => {
    const shared = mkdtempSync(join(tmpdir(), "verdict-spill-"));
    chmodSync(shared, 0o1777);
    await expect(startTestVerdict({ config: { audit: { spill_dir: shared } } })).rejects.toThrow(/shared directory/);
  });
});
