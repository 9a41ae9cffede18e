// The AuthZEN Authorization API 1.0 certification scenario (openid/authzen
// certification/authorization-api-1_0-scenario.md), level by level, against the
// shipped example (examples/authzen-certification: its policy compiled by opa, its
// dataset loaded into the directory in MongoDB) over HTTPS. Test names carry the
// scenario's ids.
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AuthzenClient, CERTIFICATION_DIR, exampleBundle, startAuthzenVerdict, type Answer, type AuthzenVerdict, type Body } from "../support/authzen.js";

let v: AuthzenVerdict;
let pdp: AuthzenClient;

beforeAll(async () => {
  v = await startAuthzenVerdict({
    config: { bundle: await exampleBundle(CERTIFICATION_DIR) },
    authzen: { directory: [join(CERTIFICATION_DIR, "dataset.json")] },
  });
  pdp = v.client;
});
afterAll(async () => {
  await v?.stop();
});

const user = (id: string, properties?: object) => ({ type: "user", id, ...(properties ? { properties } : {}) });
const record = (id: string, properties?: object) => ({ type: "record", id, ...(properties ? { properties } : {}) });
const act = (name: string, properties?: object) => ({ name, ...(properties ? { properties } : {}) });

const evaluation = (body: unknown) => pdp.post("/access/v1/evaluation", body);
const evaluations = (body: unknown) => pdp.post("/access/v1/evaluations", body);
const searchFor = (kind: "subject" | "resource" | "action", body: unknown) => pdp.post(`/access/v1/search/${kind}`, body);

/** c-2-3 / c-5: 200, application/json, a boolean decision, and a context that is an object when present. */
function decisionOf(answer: Answer): boolean {
  expect(answer.status).toBe(200);
  expect(answer.headers["content-type"]).toMatch(/^application\/json/);
  expect(typeof answer.json.decision).toBe("boolean");
  if ("context" in answer.json) expect(answer.json.context).toBeTypeOf("object");
  return answer.json.decision as boolean;
}

/** c-3-3: one decision per item, in order, each a boolean with an optional object context. */
function decisionsOf(answer: Answer, count: number): boolean[] {
  expect(answer.status).toBe(200);
  const items = answer.json.evaluations ?? [];
  expect(items).toHaveLength(count);
  for (const item of items) {
    expect(typeof item.decision).toBe("boolean");
    if ("context" in item) expect(item.context).toBeTypeOf("object");
  }
  expect(answer.json).not.toHaveProperty("decision");
  return items.map((item) => item.decision);
}

function resultsOf(answer: Answer, type?: string): string[] {
  expect(answer.status).toBe(200);
  expect(Array.isArray(answer.json.results)).toBe(true);
  const results = answer.json.results ?? [];
  if (type === undefined) return results.map((r) => r.name as string);
  for (const r of results) expect(r.type).toBe(type);
  return results.map((r) => r.id as string);
}

describe("c-1-4 the fixture's eight fixed decisions", () => {
  const rules: [string, unknown, boolean][] = [
    ["1 alice read record-1", { subject: user("alice"), action: act("read"), resource: record("record-1") }, true],
    ["2 alice write record-1", { subject: user("alice"), action: act("write"), resource: record("record-1") }, true],
    ["3 bob read record-1", { subject: user("bob"), action: act("read"), resource: record("record-1") }, true],
    ["4 bob write record-1", { subject: user("bob"), action: act("write"), resource: record("record-1") }, false],
    ["5 alice write an archived record-2", { subject: user("alice"), action: act("write"), resource: record("record-2", { status: "archived" }) }, false],
    [
      "6 an admin writes an archived record-2",
      { subject: user("bob", { role: "admin" }), action: act("write"), resource: record("record-2", { status: "archived" }) },
      true,
    ],
    ["7 alice soft-deletes record-1", { subject: user("alice"), action: act("delete", { soft: true }), resource: record("record-1") }, true],
    ["8 alice hard-deletes record-1", { subject: user("alice"), action: act("delete", { soft: false }), resource: record("record-1") }, false],
  ];
  for (const [name, body, expected] of rules) {
    it(`rule ${name}: ${expected}`, async () => {
      expect(decisionOf(await evaluation(body))).toBe(expected);
    });
  }

  it("c-2-2-1 a permit is exactly { decision: true }", async () => {
    const answer = await evaluation({ subject: user("alice"), action: act("read"), resource: record("record-1") });
    expect(answer.json).toEqual({ decision: true });
  });

  it("c-2-2-2 a deny is false, with the reason codes in an object context", async () => {
    const answer = await evaluation({ subject: user("bob"), action: act("write"), resource: record("record-1") });
    expect(answer.json.decision).toBe(false);
    expect(answer.json.context?.effect).toBe("deny");
    expect(answer.json.context?.reasons?.map((r) => r.code)).toEqual(["not_permitted"]);
    expect(answer.json.context?.decision_id).toMatch(/^[0-9a-f-]{36}$/);
  });
});

describe("the fixture README's decision table (stored values, no properties sent)", () => {
  const table: [string, string, object | undefined, boolean, boolean][] = [
    ["alice", "read", undefined, true, true],
    ["alice", "write", undefined, true, false],
    ["alice", "delete", { soft: true }, true, false],
    ["alice", "delete", { soft: false }, false, false],
    ["alice", "delete", undefined, false, false],
    ["bob", "read", undefined, true, true],
    ["bob", "write", undefined, false, true],
    ["bob", "delete", { soft: true }, false, true],
    ["bob", "delete", { soft: false }, false, false],
    ["bob", "delete", undefined, false, false],
  ];
  it("holds in all twenty cells", async () => {
    const got: string[] = [];
    const want: string[] = [];
    for (const [who, name, props, onRecord1, onRecord2] of table) {
      for (const [id, expected] of [
        ["record-1", onRecord1],
        ["record-2", onRecord2],
      ] as const) {
        const answer = await evaluation({ subject: user(who), action: act(name, props), resource: record(id) });
        got.push(`${who} ${name} ${JSON.stringify(props ?? {})} ${id} ${decisionOf(answer)}`);
        want.push(`${who} ${name} ${JSON.stringify(props ?? {})} ${id} ${expected}`);
      }
    }
    expect(got).toEqual(want);
  });

  it("denies everything to unknown subjects, unknown records and unknown types", async () => {
    for (const body of [
      { subject: user("nonexistent-user"), action: act("read"), resource: record("record-1") },
      { subject: user("nonexistent-user", { role: "admin" }), action: act("write"), resource: record("record-2", { status: "archived" }) },
      { subject: user("alice"), action: act("read"), resource: record("record-3") },
      { subject: { type: "spaceship", id: "alice" }, action: act("read"), resource: record("record-1") },
      { subject: user("alice"), action: act("read"), resource: { type: "spaceship", id: "record-1" } },
    ]) {
      expect(decisionOf(await evaluation(body))).toBe(false);
    }
  });
});

describe("Basic certification (c-2)", () => {
  it("c-2-2-3 accepts an optional context and the decision does not change", async () => {
    const answer = await evaluation({
      subject: user("alice"),
      action: act("read"),
      resource: record("record-1"),
      context: { time: "2025-06-27T18:03-07:00", ip: "192.168.1.1" },
    });
    expect(decisionOf(answer)).toBe(true);
  });

  it("c-2-2-8 accepts properties beyond the fixture's", async () => {
    const answer = await evaluation({
      subject: user("alice", { department: "Sales", role: "manager" }),
      action: act("read", { method: "GET" }),
      resource: record("record-1", { status: "active", owner: "bob" }),
    });
    expect(decisionOf(answer)).toBe(true);
  });

  it("c-2-2-9 ignores unknown fields", async () => {
    const answer = await evaluation({ subject: user("alice"), action: act("read"), resource: record("record-1"), foo: "bar", futureField: { nested: true } });
    expect(decisionOf(answer)).toBe(true);
  });

  const valid = { subject: user("alice"), action: act("read"), resource: record("record-1") };
  const malformed: [string, unknown][] = [
    ["c-2-4-1 missing subject", { action: valid.action, resource: valid.resource }],
    ["c-2-4-1 missing action", { subject: valid.subject, resource: valid.resource }],
    ["c-2-4-1 missing resource", { subject: valid.subject, action: valid.action }],
    ["c-2-4-2 subject without type", { ...valid, subject: { id: "alice" } }],
    ["c-2-4-2 subject without id", { ...valid, subject: { type: "user" } }],
    ["c-2-4-2 action without name", { ...valid, action: {} }],
    ["c-2-4-2 resource without type", { ...valid, resource: { id: "record-1" } }],
    ["c-2-4-2 resource without id", { ...valid, resource: { type: "record" } }],
    ["c-2-4-6 subject a string", { ...valid, subject: "alice" }],
    ["c-2-4-6 action.name a number", { ...valid, action: { name: 123 } }],
  ];
  for (const [name, body] of malformed) {
    it(`${name}: 400 with a JSON error`, async () => {
      const answer = await evaluation(body);
      expect(answer.status).toBe(400);
      expect(answer.json.error).toBe("invalid_request");
      expect(answer.json.message).toBeTypeOf("string");
    });
  }

  it("c-2-4-3 answers 400 to a request that is not application/json", async () => {
    const answer = await pdp.request("/access/v1/evaluation", { body: JSON.stringify(valid), headers: { "content-type": "text/plain" } });
    expect(answer.status).toBe(400);
    expect(answer.json.error).toBe("invalid_content_type");
  });

  it("c-2-4-4 answers 400 to malformed JSON", async () => {
    const answer = await evaluation('{"subject": {"type": "user", "id": "alice"},');
    expect(answer.status).toBe(400);
    expect(answer.json.error).toBe("malformed_json");
  });

  it("c-2-4-5 answers 400 to an empty body", async () => {
    for (const headers of [{}, { "content-type": "" }] as Record<string, string>[]) {
      const answer = await pdp.request("/access/v1/evaluation", { body: "", headers });
      expect(answer.status).toBe(400);
      expect(answer.json.error).toBe("empty_body");
    }
    const none = await pdp.request("/access/v1/evaluation", { method: "POST" });
    expect(none.status).toBe(400);
  });

  it("c-2-5-1 echoes X-Request-ID", async () => {
    const answer = await pdp.post("/access/v1/evaluation", valid, { "x-request-id": "bfe9eb29-ab87-4ca3-be83-a1d5d8305716" });
    expect(answer.status).toBe(200);
    expect(answer.headers["x-request-id"]).toBe("bfe9eb29-ab87-4ca3-be83-a1d5d8305716");
  });

  it("c-2-5-2 does not fail without X-Request-ID, and makes one up", async () => {
    const answer = await evaluation(valid);
    expect(answer.status).toBe(200);
    expect(answer.headers["x-request-id"]).toMatch(/^[0-9a-f-]{36}$/);
  });

  it("c-2-6 gives the same decision to the same request every time", async () => {
    const deny = { subject: user("bob"), action: act("write"), resource: record("record-1") };
    const answers = [];
    for (let i = 0; i < 5; i++) answers.push(decisionOf(await evaluation(valid)), decisionOf(await evaluation(deny)));
    expect(answers).toEqual([true, false, true, false, true, false, true, false, true, false]);
  });
});

describe("Batch certification (c-3)", () => {
  it("c-3-2-1 answers an evaluations array, one boolean decision per item", async () => {
    const answer = await evaluations({
      subject: user("alice"),
      action: act("read"),
      evaluations: [{ resource: record("record-1") }, { resource: record("record-2") }],
    });
    expect(decisionsOf(answer, 2)[0]).toBe(true);
  });

  it("c-3-2-2 keeps the fixture's decisions, in request order", async () => {
    const answer = await evaluations({ subject: user("bob"), resource: record("record-1"), evaluations: [{ action: act("read") }, { action: act("write") }] });
    expect(decisionsOf(answer, 2)).toEqual([true, false]);
  });

  it("c-3-2-3 evaluates resource properties per item", async () => {
    const answer = await evaluations({
      subject: user("alice"),
      action: act("write"),
      evaluations: [{ resource: record("record-1", { status: "active" }) }, { resource: record("record-2", { status: "archived" }) }],
    });
    expect(decisionsOf(answer, 2)).toEqual([true, false]);
  });

  it("c-3-2-4 evaluates subject properties per item", async () => {
    const answer = await evaluations({
      action: act("write"),
      resource: record("record-2", { status: "archived" }),
      evaluations: [{ subject: user("alice") }, { subject: user("bob", { role: "admin" }) }],
    });
    expect(decisionsOf(answer, 2)).toEqual([false, true]);
  });

  it("c-3-2-5 takes fully specified items without defaults", async () => {
    const answer = await evaluations({
      evaluations: [
        { subject: user("alice"), action: act("read"), resource: record("record-1") },
        { subject: user("bob"), action: act("write"), resource: record("record-1") },
      ],
    });
    expect(decisionsOf(answer, 2)).toEqual([true, false]);
  });

  it("c-3-2-6 lets an item's context replace the top-level one", async () => {
    const answer = await evaluations({
      subject: user("alice"),
      action: act("read"),
      context: { time: "2025-06-27T18:03-07:00" },
      evaluations: [{ resource: record("record-1") }, { resource: record("record-2"), context: { time: "2025-06-27T19:00-07:00", source: "batch-override" } }],
    });
    expect(decisionsOf(answer, 2)).toEqual([true, true]);
  });

  it("c-3-2-7 inherits whole top-level entities and replaces them whole", async () => {
    const answer = await evaluations({
      subject: user("alice"),
      action: act("write"),
      resource: record("record-1", { status: "active" }),
      evaluations: [{}, { resource: record("record-2", { status: "archived" }) }],
    });
    expect(decisionsOf(answer, 2)).toEqual([true, false]);
  });

  it("c-3-4-1 answers an item missing a required field with false and an error context, and decides the others", async () => {
    const answer = await evaluations({
      subject: user("alice"),
      action: act("read"),
      options: { evaluations_semantic: "execute_all" },
      evaluations: [{ resource: record("record-1") }, {}],
    });
    expect(decisionsOf(answer, 2)).toEqual([true, false]);
    expect(answer.json.evaluations?.[1]?.context?.error).toMatchObject({ status: 400, code: "invalid_request" });
  });

  it("an item out of bounds or of the wrong shape is false on its own, too", async () => {
    const answer = await evaluations({
      subject: user("alice"),
      action: act("read"),
      evaluations: [7, { resource: { type: "record", id: 5 } }, { resource: record("record-1") }, { resource: { type: "bad type!", id: "x" } }],
    });
    expect(decisionsOf(answer, 4)).toEqual([false, false, true, false]);
    expect(answer.json.evaluations?.map((e) => e.context?.error?.code ?? null)).toEqual(["invalid_request", "invalid_request", null, "invalid_request"]);
  });

  it("c-3-4-2 without evaluations behaves as the single Access Evaluation", async () => {
    const answer = await evaluations({ subject: user("alice"), action: act("read"), resource: record("record-1") });
    expect(answer.status).toBe(200);
    expect(answer.json).toEqual({ decision: true });
  });

  it("c-3-4-3 with an empty evaluations array behaves as the single Access Evaluation", async () => {
    const answer = await evaluations({ subject: user("alice"), action: act("read"), resource: record("record-1"), evaluations: [] });
    expect(answer.json).toEqual({ decision: true });
  });

  it("without evaluations, a request missing an entity is a 400", async () => {
    const answer = await evaluations({ subject: user("alice"), action: act("read") });
    expect(answer.status).toBe(400);
    expect(answer.json.error).toBe("invalid_request");
  });

  it("answers 400 to an evaluations_semantic the spec does not define", async () => {
    const answer = await evaluations({
      subject: user("alice"),
      action: act("read"),
      options: { evaluations_semantic: "majority" },
      evaluations: [{ resource: record("record-1") }],
    });
    expect(answer.status).toBe(400);
  });

  const three = {
    subject: user("bob"),
    resource: record("record-1"),
    evaluations: [{ action: act("read") }, { action: act("write") }, { action: act("read") }],
  };

  it("deny_on_first_deny stops at the first false (like &&)", async () => {
    const answer = await evaluations({ ...three, options: { evaluations_semantic: "deny_on_first_deny" } });
    expect(decisionsOf(answer, 2)).toEqual([true, false]);
  });

  it("permit_on_first_permit stops at the first true (like ||)", async () => {
    const answer = await evaluations({
      ...three,
      evaluations: [{ action: act("write") }, { action: act("read") }, { action: act("write") }],
      options: { evaluations_semantic: "permit_on_first_permit" },
    });
    expect(decisionsOf(answer, 2)).toEqual([false, true]);
  });

  it("a short circuit counts an invalid item as a denial", async () => {
    const answer = await evaluations({
      ...three,
      evaluations: [{ action: act("read") }, { action: {} }, { action: act("read") }],
      options: { evaluations_semantic: "deny_on_first_deny" },
    });
    expect(decisionsOf(answer, 2)).toEqual([true, false]);
  });

  it("execute_all answers every item when none settles it", async () => {
    const answer = await evaluations({ ...three, options: { evaluations_semantic: "execute_all" } });
    expect(decisionsOf(answer, 3)).toEqual([true, false, true]);
  });
});

describe("Search certification (c-4)", () => {
  it("c-4-2-1 S1: subject search for readers of record-1 finds alice and bob", async () => {
    const answer = await searchFor("subject", { subject: { type: "user" }, action: act("read"), resource: record("record-1") });
    expect(resultsOf(answer, "user")).toEqual(["alice", "bob"]);
  });

  it("c-4-2-2 subject search with a context gives the same results", async () => {
    const answer = await searchFor("subject", {
      subject: { type: "user" },
      action: act("read"),
      resource: record("record-1"),
      context: { time: "2025-06-27T18:03-07:00", ip: "192.168.1.1" },
    });
    expect(resultsOf(answer, "user")).toEqual(["alice", "bob"]);
  });

  it("c-4-2-3 subject search ignores a subject id", async () => {
    const answer = await searchFor("subject", { subject: user("alice"), action: act("read"), resource: record("record-1") });
    expect(resultsOf(answer, "user")).toEqual(["alice", "bob"]);
  });

  it("c-4-2-4 S4: subject search for writers of an archived record-2 finds bob only", async () => {
    const answer = await searchFor("subject", { subject: { type: "user" }, action: act("write"), resource: record("record-2", { status: "archived" }) });
    expect(resultsOf(answer, "user")).toEqual(["bob"]);
  });

  it("c-4-3-1 S2: resource search for what alice reads finds both records", async () => {
    const answer = await searchFor("resource", { subject: user("alice"), action: act("read"), resource: { type: "record" } });
    expect(resultsOf(answer, "record")).toEqual(["record-1", "record-2"]);
  });

  it("c-4-3-2 resource search with a context gives the same results", async () => {
    const answer = await searchFor("resource", {
      subject: user("alice"),
      action: act("read"),
      resource: { type: "record" },
      context: { time: "2025-06-27T18:03-07:00", ip: "192.168.1.1" },
    });
    expect(resultsOf(answer, "record")).toEqual(["record-1", "record-2"]);
  });

  it("c-4-3-3 resource search ignores a resource id", async () => {
    const answer = await searchFor("resource", { subject: user("alice"), action: act("read"), resource: record("record-1") });
    expect(resultsOf(answer, "record")).toEqual(["record-1", "record-2"]);
  });

  it("c-4-3-4 S5: resource search for what admin bob writes finds record-2 only", async () => {
    const answer = await searchFor("resource", { subject: user("bob", { role: "admin" }), action: act("write"), resource: { type: "record" } });
    expect(resultsOf(answer, "record")).toEqual(["record-2"]);
  });

  it("c-4-4-1 S3: action search for alice on record-1 finds read and write, not delete", async () => {
    const answer = await searchFor("action", { subject: user("alice"), resource: record("record-1") });
    expect(resultsOf(answer)).toEqual(["read", "write"]);
  });

  it("c-4-4-2 action search with a context gives the same results", async () => {
    const answer = await searchFor("action", {
      subject: user("alice"),
      resource: record("record-1"),
      context: { time: "2025-06-27T18:03-07:00", ip: "192.168.1.1" },
    });
    expect(resultsOf(answer)).toEqual(["read", "write"]);
  });

  it("c-4-4-3 S6: action search for admin bob on an archived record-2 finds read and write", async () => {
    const answer = await searchFor("action", { subject: user("bob", { role: "admin" }), resource: record("record-2", { status: "archived" }) });
    expect(resultsOf(answer)).toEqual(["read", "write"]);
  });

  it("c-4-5-1 / c-4-5-2 pages with limit 1, then follows next_token to the end", async () => {
    const request = { subject: { type: "user" }, action: act("read"), resource: record("record-1") };
    const first = await searchFor("subject", { ...request, page: { limit: 1 } });
    expect(resultsOf(first, "user")).toEqual(["alice"]);
    expect(first.json.page).toMatchObject({ count: 1 });
    const token = first.json.page?.next_token ?? "";
    expect(token).not.toBe("");
    const second = await searchFor("subject", { ...request, page: { token } });
    expect(resultsOf(second, "user")).toEqual(["bob"]);
    expect(second.json.page).toEqual({ next_token: "", count: 1 });
    // A page token gives the same page every time.
    const again = await searchFor("subject", { ...request, page: { token } });
    expect(again.json).toEqual(second.json);
  });

  it("c-4-5-4 a search that fits one page says so with an empty next_token", async () => {
    const answer = await searchFor("subject", { subject: { type: "user" }, action: act("read"), resource: record("record-1"), page: { limit: 10 } });
    expect(answer.json.page).toEqual({ next_token: "", count: 2 });
  });

  it("refuses a follow-up page that changes the request or its limit, and a token it did not issue", async () => {
    const request = { subject: { type: "user" }, action: act("read"), resource: record("record-1") };
    const token = (await searchFor("subject", { ...request, page: { limit: 1 } })).json.page?.next_token as string;
    const changed = await searchFor("subject", { ...request, action: act("write"), page: { token } });
    expect([changed.status, changed.json.error]).toEqual([400, "page_request_changed"]);
    const limit = await searchFor("subject", { ...request, page: { token, limit: 5 } });
    expect([limit.status, limit.json.error]).toEqual([400, "page_request_changed"]);
    const otherEndpoint = await searchFor("resource", { subject: user("alice"), action: act("read"), resource: { type: "record" }, page: { token } });
    expect([otherEndpoint.status, otherEndpoint.json.error]).toEqual([400, "invalid_page_token"]);
    const forged = await searchFor("subject", { ...request, page: { token: "bm90LWEtdG9rZW4" } });
    expect([forged.status, forged.json.error]).toEqual([400, "invalid_page_token"]);
    // The request's own token with its page size raised past max_page_size (1,000): not one this PDP gave.
    const raised = Buffer.from(JSON.stringify({ ...JSON.parse(Buffer.from(token, "base64url").toString("utf8")), l: 1_000_000 })).toString("base64url");
    const oversized = await searchFor("subject", { ...request, page: { token: raised } });
    expect([oversized.status, oversized.json.error]).toEqual([400, "invalid_page_token"]);
  });

  it("c-4-6-1 an unknown subject gets empty results on every search endpoint", async () => {
    const nobody = user("nonexistent-user");
    expect(resultsOf(await searchFor("action", { subject: nobody, resource: record("record-1") }))).toEqual([]);
    expect(resultsOf(await searchFor("resource", { subject: nobody, action: act("read"), resource: { type: "record" } }), "record")).toEqual([]);
    expect(resultsOf(await searchFor("subject", { subject: { type: "user" }, action: act("read"), resource: record("no-such-record") }), "user")).toEqual([]);
  });

  it("c-4-6-2 an unknown type gets empty results, not a 400", async () => {
    expect(resultsOf(await searchFor("subject", { subject: { type: "spaceship" }, action: act("read"), resource: record("record-1") }), "spaceship")).toEqual(
      [],
    );
    expect(resultsOf(await searchFor("resource", { subject: user("alice"), action: act("read"), resource: { type: "spaceship" } }), "spaceship")).toEqual([]);
    expect(resultsOf(await searchFor("resource", { subject: user("alice"), action: act("read"), resource: { type: "not a type!" } }), "not a type!")).toEqual(
      [],
    );
    expect(resultsOf(await searchFor("action", { subject: { type: "spaceship", id: "alice" }, resource: record("record-1") }))).toEqual([]);
  });

  const missing: [string, "subject" | "resource" | "action", unknown][] = [
    ["c-4-7-1 subject search without action", "subject", { subject: { type: "user" }, resource: record("record-1") }],
    ["c-4-7-1 resource search without subject", "resource", { action: act("read"), resource: { type: "record" } }],
    ["c-4-7-1 action search without resource", "action", { subject: user("alice") }],
    ["c-4-7-2 subject search with a resource without id", "subject", { subject: { type: "user" }, action: act("read"), resource: { type: "record" } }],
    ["c-4-7-2 resource search with a subject without id", "resource", { subject: { type: "user" }, action: act("read"), resource: { type: "record" } }],
    ["c-4-7-2 action search with a subject without id", "action", { subject: { type: "user" }, resource: record("record-1") }],
  ];
  for (const [name, kind, body] of missing) {
    it(`${name}: 400`, async () => {
      const answer = await searchFor(kind, body);
      expect(answer.status).toBe(400);
      expect(answer.json.error).toBe("invalid_request");
    });
  }
});

describe("Discovery certification (c-6)", () => {
  it("c-6-2 / c-6-5 serves the metadata, identified by the base URL it was reached at, with HTTPS endpoints", async () => {
    const answer = await pdp.request("/.well-known/authzen-configuration", { method: "GET", headers: { authorization: "" } });
    expect(answer.status).toBe(200);
    expect(answer.headers["content-type"]).toMatch(/^application\/json/);
    const body = answer.json as Body & Record<string, string>;
    expect(body["policy_decision_point"]).toBe(v.url);
    expect(body).toEqual({
      policy_decision_point: v.url,
      access_evaluation_endpoint: `${v.url}/access/v1/evaluation`,
      access_evaluations_endpoint: `${v.url}/access/v1/evaluations`,
      search_subject_endpoint: `${v.url}/access/v1/search/subject`,
      search_resource_endpoint: `${v.url}/access/v1/search/resource`,
      search_action_endpoint: `${v.url}/access/v1/search/action`,
    });
  });

  it("names the host the PEP used (localhost here), so the identifier matches the URL it fetched", async () => {
    const viaLocalhost = new AuthzenClient(v.url.replace("127.0.0.1", "localhost"), { ca: v.ca.certPem });
    const answer = await viaLocalhost.request("/.well-known/authzen-configuration", { method: "GET" });
    expect((answer.json as Record<string, unknown>)["policy_decision_point"]).toBe(v.url.replace("127.0.0.1", "localhost"));
    // Each advertised endpoint answers there.
    const endpoint = new URL((answer.json as Record<string, string>)["access_evaluation_endpoint"] as string);
    const decision = await new AuthzenClient(endpoint.origin, { ca: v.ca.certPem, apiKey: v.t.apiKey }).post(endpoint.pathname, {
      subject: user("alice"),
      action: act("read"),
      resource: record("record-1"),
    });
    expect(decision.json).toEqual({ decision: true });
  });
});
