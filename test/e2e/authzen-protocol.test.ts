// The AuthZEN listener's protocol rules, each with the status and the stable error
// code a malformed request gets: JSON only, strict JSON, bounds, X-Request-ID on
// every response, PEP authentication (API key, mutual TLS), and plain HTTP only
// when asked for loudly. The service keeps serving through all of it.
import { randomBytes } from "node:crypto";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { hashApiKey } from "../../src/server/index.js";
import { AuthzenClient, CERTIFICATION_DIR, exampleBundle, startAuthzenVerdict, type AuthzenVerdict } from "../support/authzen.js";
import { buildFixtureBundle } from "../support/bundles.js";
import { createTestCa } from "../support/certs.js";
import { TEST_AUDIENCE, TEST_SCOPES } from "../support/issuer.js";
import { captureLog } from "../support/log.js";

const keys = { pep: `vdk_test_${randomBytes(16).toString("hex")}`, other: `vdk_test_${randomBytes(16).toString("hex")}` };
const valid = { subject: { type: "user", id: "alice" }, action: { name: "read" }, resource: { type: "record", id: "record-1" } };

let v: AuthzenVerdict;
/** The shared Verdict's log. */
const logged = captureLog();

beforeAll(async () => {
  v = await startAuthzenVerdict({
    log: logged.log,
    apiKey: keys.pep,
    config: {
      bundle: await exampleBundle(CERTIFICATION_DIR),
      apis: [
        { name: "invoices-api", audience: TEST_AUDIENCE, key_sha256: hashApiKey(keys.pep), scopes: [...TEST_SCOPES] },
        { name: "grpc-only", audience: "https://grpc-only.example", key_sha256: hashApiKey(keys.other), scopes: [...TEST_SCOPES] },
      ],
    },
    authzen: { directory: [join(CERTIFICATION_DIR, "dataset.json")] },
  });
});
afterAll(async () => {
  await v?.stop();
});

const errorOf = async (answer: Promise<{ status: number; json: { error?: string; message?: string }; headers: Record<string, unknown> }>) => {
  const { status, json, headers } = await answer;
  expect(headers["content-type"]).toMatch(/^application\/json/);
  expect(json.error).toMatch(/^[a-z][a-z_]*$/);
  expect(json.message).toBeTypeOf("string");
  return [status, json.error];
};

describe("JSON only", () => {
  it("takes application/json with a charset", async () => {
    const answer = await v.client.request("/access/v1/evaluation", {
      body: JSON.stringify(valid),
      headers: { "content-type": "application/json; charset=utf-8" },
    });
    expect(answer.json).toEqual({ decision: true });
  });

  it("answers 400 invalid_content_type to other media types, and to a body without a content type", async () => {
    for (const type of ["text/plain", "application/x-www-form-urlencoded", "application/jsonx", ""]) {
      expect(await errorOf(v.client.request("/access/v1/evaluation", { body: JSON.stringify(valid), headers: { "content-type": type } }))).toEqual([
        400,
        "invalid_content_type",
      ]);
    }
  });

  it("answers 400 to JSON that is not an object", async () => {
    for (const body of ["[]", '"alice"', "42", "null"]) {
      const [status] = await errorOf(v.client.post("/access/v1/evaluation", body));
      expect(status).toBe(400);
    }
  });

  it("refuses a repeated member name rather than guess which one counts", async () => {
    const body =
      '{"subject": {"type": "user", "id": "bob"}, "subject": {"type": "user", "id": "alice"}, "action": {"name": "read"}, "resource": {"type": "record", "id": "record-1"}}';
    expect(await errorOf(v.client.post("/access/v1/evaluation", body))).toEqual([400, "duplicate_member"]);
  });

  it("refuses __proto__ in properties", async () => {
    const body =
      '{"subject": {"type": "user", "id": "alice", "properties": {"__proto__": {"role": "admin"}}}, "action": {"name": "read"}, "resource": {"type": "record", "id": "record-1"}}';
    expect((await errorOf(v.client.post("/access/v1/evaluation", body)))[0]).toBe(400);
  });

  it("answers 413 request_too_large past max_body_bytes (256 KiB by default)", async () => {
    const big = { ...valid, context: { blob: "x".repeat(300 * 1024) } };
    expect(await errorOf(v.client.post("/access/v1/evaluation", big))).toEqual([413, "request_too_large"]);
  });

  it("holds properties and context to the bounds of a Check", async () => {
    let deep: Record<string, unknown> = { leaf: true };
    for (let i = 0; i < 10; i++) deep = { deeper: deep };
    for (const body of [
      { ...valid, context: deep },
      { ...valid, subject: { ...valid.subject, properties: { name: "x".repeat(9_000) } } },
      { ...valid, resource: { ...valid.resource, properties: { list: Array.from({ length: 2_500 }, (_, i) => i) } } },
      { ...valid, action: { name: "read me" } },
      { ...valid, resource: { type: "record", id: "a\u0000b" } },
      { ...valid, subject: { type: "", id: "alice" } },
    ]) {
      expect(await errorOf(v.client.post("/access/v1/evaluation", body))).toEqual([400, "invalid_request"]);
    }
  });

  it("holds context and each properties object to max_context_bytes (32 KiB by default), as a Check, also where a batch's items inherit it", async () => {
    /** An object of about `kib` KiB as JSON, within every other bound (5 strings of at most 8,192 characters each). */
    const sized = (kib: number) => Object.fromEntries(Array.from({ length: 5 }, (_, i) => [`part${i}`, "x".repeat(Math.floor((kib * 1024) / 5) - 12)]));
    for (const body of [
      { ...valid, context: sized(40) },
      { ...valid, subject: { ...valid.subject, properties: sized(40) } },
      { ...valid, resource: { ...valid.resource, properties: sized(40) } },
      { ...valid, action: { ...valid.action, properties: sized(40) } },
    ]) {
      const answer = await v.client.post("/access/v1/evaluation", body);
      expect(await errorOf(Promise.resolve(answer))).toEqual([400, "invalid_request"]);
      expect(answer.json.message).toMatch(/larger than 32768 bytes as JSON \(max_context_bytes\)/);
    }
    expect((await v.client.post("/access/v1/evaluation", { ...valid, context: sized(30) })).status).toBe(200);
    // a batch whose items inherit an oversized context: each item fails on its own, the request is answered
    const batch = await v.client.post("/access/v1/evaluations", { ...valid, context: sized(40), evaluations: [{}, { context: {} }] });
    expect(batch.status).toBe(200);
    const [inherited, own] = (batch.json as unknown as { evaluations: { decision: boolean; context?: { error?: { code: string } } }[] }).evaluations;
    expect(inherited).toMatchObject({ decision: false, context: { error: { code: "invalid_request" } } });
    expect(own?.context?.error).toBeUndefined();
  });

  it("answers 400 to more evaluations than max_batch_items", async () => {
    const answer = await v.client.post("/access/v1/evaluations", { ...valid, evaluations: Array.from({ length: 101 }, () => ({})) });
    expect(await errorOf(Promise.resolve(answer))).toEqual([400, "invalid_request"]);
  });
});

describe("X-Request-ID", () => {
  it("is echoed on errors too", async () => {
    const bad = await v.client.post("/access/v1/evaluation", "{", { "x-request-id": "req-bad-json" });
    expect([bad.status, bad.headers["x-request-id"]]).toEqual([400, "req-bad-json"]);
    const unauthenticated = await v.client.post("/access/v1/evaluation", valid, { "x-request-id": "req-401", authorization: "" });
    expect([unauthenticated.status, unauthenticated.headers["x-request-id"]]).toEqual([401, "req-401"]);
    const missing = await v.client.post("/access/v1/nothing-here", valid, { "x-request-id": "req-404" });
    expect([missing.status, missing.headers["x-request-id"]]).toEqual([404, "req-404"]);
    const metadata = await v.client.request("/.well-known/authzen-configuration", { method: "GET", headers: { "x-request-id": "req-meta" } });
    expect([metadata.status, metadata.headers["x-request-id"]]).toEqual([200, "req-meta"]);
  });

  it("must fit the audit trail's request id (128 printable ASCII characters): 400, still echoed", async () => {
    const id = "r".repeat(200);
    const answer = await v.client.post("/access/v1/evaluation", valid, { "x-request-id": id });
    expect(answer.headers["x-request-id"]).toBe(id);
    expect(await errorOf(Promise.resolve(answer))).toEqual([400, "invalid_request_id"]);
  });
});

describe("PEP authentication", () => {
  it("takes the API key alone or as a Bearer token in Authorization", async () => {
    expect((await v.client.post("/access/v1/evaluation", valid, { authorization: keys.pep })).json).toEqual({ decision: true });
    expect((await v.client.post("/access/v1/evaluation", valid, { authorization: `Bearer ${keys.pep}` })).json).toEqual({ decision: true });
  });

  it("answers 401 with WWW-Authenticate without a key or with an unknown one, before reading the body", async () => {
    for (const authorization of ["", "vdk_test_unknown", "Bearer "]) {
      const answer = await v.client.post("/access/v1/evaluation", "{not json", { authorization });
      expect(await errorOf(Promise.resolve(answer))).toEqual([401, "unauthenticated"]);
      expect(answer.headers["www-authenticate"]).toMatch(/^Bearer realm=/);
    }
  });

  it("answers 403 api_not_enabled to a registered API that is not listed in authzen.apis", async () => {
    expect(await errorOf(v.client.post("/access/v1/evaluation", valid, { authorization: keys.other }))).toEqual([403, "api_not_enabled"]);
  });

  it("logs a flood of refused PEPs as one line, counted, with the path cut short and no query", async () => {
    const refusals = () => logged.lines().filter((l) => l["msg"] === "unauthenticated PEP refused");
    const before = refusals().length;
    const long = `/access/v1/evaluation?${"q".repeat(15_000)}`;
    const answers = await Promise.all(Array.from({ length: 20 }, () => v.client.post(long, valid, { authorization: "Bearer not-a-key" })));
    expect(answers.every((a) => a.status === 401)).toBe(true);
    // at most the first of a window is a line of its own; the rest are counted into the window's line
    expect(refusals().length - before).toBeLessThanOrEqual(1);
    for (const line of refusals()) {
      expect(String(line["path"]).length).toBeLessThanOrEqual(256);
      expect(String(line["path"])).not.toContain("?");
    }
    expect(JSON.stringify(refusals())).not.toContain("not-a-key");
  });

  it("serves the metadata without authentication", async () => {
    const answer = await v.client.request("/.well-known/authzen-configuration", { method: "GET", headers: { authorization: "" } });
    expect(answer.status).toBe(200);
  });
});

describe("routes", () => {
  it("answers 404 not_found for unknown paths and 405 with Allow for other methods", async () => {
    expect(await errorOf(v.client.post("/access/v2/evaluation", valid))).toEqual([404, "not_found"]);
    const get = await v.client.request("/access/v1/evaluation", { method: "GET" });
    expect(await errorOf(Promise.resolve(get))).toEqual([405, "method_not_allowed"]);
    expect(get.headers["allow"]).toBe("POST");
    const post = await v.client.request("/.well-known/authzen-configuration", { method: "POST", body: {} });
    expect([post.status, post.headers["allow"]]).toEqual([405, "GET"]);
  });

  it("answers 400 invalid_request in AuthZEN's error shape, X-Request-ID echoed, to a path whose percent-encoding is not UTF-8 (the router's own refusal)", async () => {
    const answer = await v.client.post("/access/v1/%ff%fe", valid, { "x-request-id": "req-bad-url" });
    expect(await errorOf(Promise.resolve(answer))).toEqual([400, "invalid_request"]);
    expect(answer.headers["x-request-id"]).toBe("req-bad-url");
    expect(JSON.stringify(answer.json)).not.toContain("%ff");
  });

  it("keeps serving after every kind of bad request", async () => {
    expect((await v.client.post("/access/v1/evaluation", valid)).json).toEqual({ decision: true });
  });
});

describe("mutual TLS", () => {
  const ca = createTestCa("AuthZEN client CA");
  const pepCert = ca.issue({ cn: "todo-pep" });
  const stranger = createTestCa("Another CA").issue({ cn: "todo-pep" });
  let m: AuthzenVerdict;

  beforeAll(async () => {
    const serverCa = createTestCa("AuthZEN server CA");
    const server = serverCa.issue({ cn: "localhost", dnsNames: ["localhost"], ips: ["127.0.0.1"], server: true });
    m = await startAuthzenVerdict({
      ca: serverCa,
      config: {
        bundle: await exampleBundle(CERTIFICATION_DIR),
        apis: [{ name: "invoices-api", audience: TEST_AUDIENCE, client_certificate: { subject_cn: "todo-pep" }, scopes: [...TEST_SCOPES] }],
      },
      authzen: {
        tls: { cert_file: server.certFile, key_file: server.keyFile, client_ca_file: ca.certFile },
        directory: [join(CERTIFICATION_DIR, "dataset.json")],
      },
    });
  });
  afterAll(async () => {
    await m?.stop();
  });

  it("authenticates a PEP by its client certificate, without a key", async () => {
    const client = new AuthzenClient(m.url, { ca: m.ca.certPem });
    expect((await client.request("/access/v1/evaluation", { body: valid, client: pepCert })).json).toEqual({ decision: true });
  });

  it("answers 401 without a certificate, or with one from another CA", async () => {
    const client = new AuthzenClient(m.url, { ca: m.ca.certPem });
    expect((await client.request("/access/v1/evaluation", { body: valid })).status).toBe(401);
    expect((await client.request("/access/v1/evaluation", { body: valid, client: stranger })).status).toBe(401);
  });
});

describe("plain HTTP", () => {
  it("is served only with insecure_plaintext, logged as [INSECURE CONFIG], and the identifier says http", async () => {
    const captured = captureLog();
    const p = await startAuthzenVerdict({
      log: captured.log,
      config: { bundle: await exampleBundle(CERTIFICATION_DIR) },
      authzen: { tls: undefined, insecure_plaintext: true },
    });
    try {
      const url = `http://127.0.0.1:${p.t.verdict.authzen?.port}`;
      const client = new AuthzenClient(url, { apiKey: p.t.apiKey });
      const metadata = await client.request("/.well-known/authzen-configuration", { method: "GET" });
      expect((metadata.json as Record<string, unknown>)["policy_decision_point"]).toBe(url);
      expect(captured.lines().some((line) => String(line["msg"]).startsWith("[INSECURE CONFIG] authzen serves plain HTTP"))).toBe(true);
      expect(
        captured.lines().some((line) => String(line["msg"]).startsWith("[INSECURE CONFIG] authzen trust_asserted_subjects") && line["api"] === "invoices-api"),
      ).toBe(true);
    } finally {
      await p.stop();
    }
  });
});

describe("overload", () => {
  it("answers evaluations refused on arrival 503 overloaded with Retry-After, never 500, and keeps serving", async () => {
    // Plain HTTP, so that the flood's requests arrive at once rather than one TLS handshake at a time.
    const p = await startAuthzenVerdict({ config: { bundle: await buildFixtureBundle("slow-policy") }, authzen: { tls: undefined, insecure_plaintext: true } });
    const o = { client: new AuthzenClient(`http://127.0.0.1:${p.t.verdict.authzen?.port}`, { apiKey: p.t.apiKey }), stop: () => p.stop() };
    try {
      // A policy whose every decision costs a fraction of a millisecond, and 250 requests of 100 evaluations at
      // once: more than the 8,192 evaluations that may wait, so the last are refused whole on arrival.
      const body = {
        subject: { type: "user", id: "alice" },
        resource: { type: "record", id: "record-1" },
        evaluations: Array(100).fill({ action: { name: "slow" } }),
      };
      const answers = await Promise.all(Array.from({ length: 250 }, () => o.client.post("/access/v1/evaluations", body)));
      const refused = answers.filter((answer) => answer.status !== 200);
      expect(refused.length).toBeGreaterThan(0);
      expect(refused.length).toBeLessThan(answers.length);
      for (const answer of refused) {
        // Retry-After: the policy queue's bound (5 s) and up to half as much again, in whole seconds.
        expect(answer).toMatchObject({ status: 503, json: { error: "overloaded" }, headers: { "retry-after": expect.stringMatching(/^[5-8]$/) } });
        expect(answer.json.message).toMatch(/nothing was applied; retry later$/);
      }
      for (const answer of answers.filter((one) => one.status === 200)) expect(answer.json).toEqual({ evaluations: Array(100).fill({ decision: true }) });
      expect((await o.client.post("/access/v1/evaluation", { ...body, evaluations: undefined, action: { name: "slow" } })).json).toEqual({ decision: true });
    } finally {
      await o.stop();
    }
  });
});
