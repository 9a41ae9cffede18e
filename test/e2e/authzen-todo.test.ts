// The AuthZEN interop "Todo" scenario through the HTTP endpoint: the example's
// policy and directory (examples/authzen-todo), and the interop decision files as
// the interop runner sends them (the key itself in Authorization, subject ids from
// the users' tokens), compared as strictly as the runner compares them.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { exampleBundle, startAuthzenVerdict, TODO_DIR, type AuthzenVerdict } from "../support/authzen.js";

interface DecisionFile {
  evaluation: { request: unknown; expected: boolean }[];
  evaluations?: { request: unknown; expected: { decision: boolean }[] }[];
}

const file = (name: string) => JSON.parse(readFileSync(join(TODO_DIR, "decisions", name), "utf8")) as DecisionFile;
const first = file("decisions-authorization-api-1_0-01.json");
const second = file("decisions-authorization-api-1_0-02.json");

let v: AuthzenVerdict;

beforeAll(async () => {
  v = await startAuthzenVerdict({
    config: { bundle: await exampleBundle(TODO_DIR) },
    // As the example's verdict.json: the PEP vouches for its users, and decisions are bare booleans.
    authzen: { directory: [join(TODO_DIR, "directory.json")], apis: [{ name: "invoices-api", trust_asserted_subjects: true, decision_context: "none" }] },
  });
});
afterAll(async () => {
  await v?.stop();
});

describe("the Todo interop decisions (authorization-api-1_0-01)", () => {
  it("has the 40 single evaluations of the interop file", () => {
    expect(first.evaluation).toHaveLength(40);
  });

  it("passes all 40 through POST /access/v1/evaluation", async () => {
    const failed: string[] = [];
    for (const [i, { request, expected }] of first.evaluation.entries()) {
      const answer = await v.client.post("/access/v1/evaluation", request);
      // The runner reads data.decision; anything but exactly the expected boolean fails.
      if (answer.status !== 200 || answer.json.decision !== expected) failed.push(`#${i} ${JSON.stringify(request)}: ${answer.status} ${answer.text}`);
    }
    expect(failed).toEqual([]);
  });

  it("passes the same 40 through POST /access/v1/evaluations without an evaluations array", async () => {
    const got = [];
    for (const { request } of first.evaluation) got.push((await v.client.post("/access/v1/evaluations", request)).json.decision);
    expect(got).toEqual(first.evaluation.map((e) => e.expected));
  });
});

describe("the Todo interop batch decisions (authorization-api-1_0-02)", () => {
  it("passes its 40 single evaluations", async () => {
    const got = [];
    for (const { request } of second.evaluation) got.push((await v.client.post("/access/v1/evaluation", request)).json.decision);
    expect(got).toEqual(second.evaluation.map((e) => e.expected));
  });

  it("passes its 3 batches, each answer exactly the expected evaluations array", async () => {
    expect(second.evaluations).toHaveLength(3);
    for (const { request, expected } of second.evaluations ?? []) {
      const answer = await v.client.post("/access/v1/evaluations", request);
      expect(answer.status).toBe(200);
      // The runner compares JSON.stringify(expected) with JSON.stringify(data.evaluations).
      expect(JSON.stringify(answer.json.evaluations)).toBe(JSON.stringify(expected));
    }
  });

  it("answers all 40 at once as one boxcar, in order", async () => {
    const answer = await v.client.post("/access/v1/evaluations", { evaluations: second.evaluation.map((e) => e.request) });
    expect(answer.json.evaluations).toEqual(second.evaluation.map((e) => ({ decision: e.expected })));
  });
});

describe("the Todo directory", () => {
  it("gives the policy a user's email and roles from MongoDB: Morty edits his own todos only", async () => {
    const morty = { type: "user", id: "CiRmZDE2MTRkMy1jMzlhLTQ3ODEtYjdiZC04Yjk2ZjVhNTEwMGQSBWxvY2Fs" };
    const own = { type: "todo", id: "t-1", properties: { ownerID: "morty@the-citadel.com" } };
    const ricks = { type: "todo", id: "t-2", properties: { ownerID: "rick@the-citadel.com" } };
    const answer = await v.client.post("/access/v1/evaluations", {
      subject: morty,
      action: { name: "can_update_todo" },
      evaluations: [{ resource: own }, { resource: ricks }],
    });
    expect(answer.json.evaluations).toEqual([{ decision: true }, { decision: false }]);
  });

  it("lets a request's subject properties win over the stored ones", async () => {
    const beth = { type: "user", id: "CiRmZDM2MTRkMy1jMzlhLTQ3ODEtYjdiZC04Yjk2ZjVhNTEwMGQSBWxvY2Fs" };
    const stored = await v.client.post("/access/v1/evaluation", { subject: beth, action: { name: "can_create_todo" }, resource: { type: "todo", id: "t" } });
    const sent = await v.client.post("/access/v1/evaluation", {
      subject: { ...beth, properties: { roles: ["editor"] } },
      action: { name: "can_create_todo" },
      resource: { type: "todo", id: "t" },
    });
    expect([stored.json.decision, sent.json.decision]).toEqual([false, true]);
  });
});
