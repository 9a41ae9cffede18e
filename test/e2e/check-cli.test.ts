// `verdict check` asking what real requests ask: resource attributes, a whole
// request from a file, a batch. A separate process against a real Verdict over a
// socket (the shipped policies, MongoDB over the wire).
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runVerdict } from "../support/cli.js";
import { startTestVerdict, type TestVerdict } from "../support/verdict.js";

const work = mkdtempSync(join(tmpdir(), "verdict-check-cli-"));
let server: TestVerdict;
let person: string;

beforeAll(async () => {
  server = await startTestVerdict();
  person = await server.issuer.token({ sub: "alice", scope: "customers:read customers:export invoices:read invoices:write" });
});
afterAll(async () => {
  await server?.stop();
});

const check = (args: string[], stdin?: string) =>
  runVerdict(["check", "--addr", server.address, "--api-key", server.apiKey, "--token", person, ...args], { VERDICT_HOME: work }, stdin);

function file(name: string, value: unknown): string {
  const path = join(work, name);
  writeFileSync(path, JSON.stringify(value));
  return path;
}

describe("verdict check --resource-attributes", () => {
  it("sends the resource's attributes to the policy: an export of internal data is allowed where unclassified data (PII) needs a step-up", async () => {
    const base = ["--action", "customers:export", "--resource", "customer_list/l-1"];
    const unclassified = JSON.parse((await check(base)).stdout);
    expect(unclassified).toMatchObject({ decision: "STEP_UP", reasons: [{ code: "sensitive_data_step_up_required" }] });

    const internal = await check([...base, "--resource-attributes", '{"classification": "internal"}']);
    expect(internal.code).toBe(0);
    expect(JSON.parse(internal.stdout)).toMatchObject({ decision: "ALLOW", reasons: [] });
  });

  it("prints the challenge with only the fields of the .proto (no stray _max_age)", async () => {
    const run = await check(["--action", "customers:export", "--resource", "customer_list/l-1"]);
    const body = JSON.parse(run.stdout);
    // The .proto's Challenge fields: approval_id, approval_url, expires_at and authorization_details are empty here (docs/approvals.md).
    expect(Object.keys(body.challenge).sort()).toEqual([
      "acr_values",
      "approval_id",
      "approval_url",
      "authorization_details",
      "description",
      "error",
      "expires_at",
      "max_age",
      "scopes",
    ]);
    expect(body.challenge).toMatchObject({ approval_id: "", approval_url: "", expires_at: 0, authorization_details: [] });
    expect(body.challenge).toMatchObject({ error: "insufficient_user_authentication", acr_values: ["mfa"], max_age: 300 });
    expect(JSON.stringify(body)).not.toContain("_max_age");
  });

  it("refuses attributes that are not a JSON object before calling", async () => {
    const run = await check(["--action", "customers:export", "--resource", "customer_list/l-1", "--resource-attributes", '"pii"']);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain("--resource-attributes must be a JSON object");
  });

  it("refuses a context nested deeper than a Struct carries before calling, saying where (the gRPC client would say only INTERNAL)", async () => {
    const deep = `{"a":${"[".repeat(3_000)}${"]".repeat(3_000)}}`;
    const run = await check(["--action", "customers:export", "--resource", "customer_list/l-1", "--context", deep]);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/--context\.a(\[0\])+: a Struct nests at most 32 levels/);
    expect(run.stderr).not.toContain("INTERNAL");
  });
});

describe("verdict check on a rate's deny", () => {
  it("prints how long the window stays full (retry_after_ms), and no such field on other answers", async () => {
    const agent = await server.issuer.token({ sub: "alice", client_id: `agent-${Date.now()}`, client_type: "ai-agent", scope: "invoices:read" });
    const read = ["check", "--addr", server.address, "--api-key", server.apiKey, "--token", agent, "--action", "invoices:read", "--resource", "invoice/inv-1"];
    const allowed = await runVerdict(read, { VERDICT_HOME: work });
    expect(JSON.parse(allowed.stdout)).not.toHaveProperty("retry_after_ms");
    // the shipped policy allows an agent 120 requests a minute (a sliding window of one-second buckets): the rest over gRPC
    const answers = await Promise.all(
      Array.from({ length: 119 }, () => server.client.check({ token: agent, action: "invoices:read", resource: { type: "invoice", id: "inv-1" } })),
    );
    expect(answers.every((answer) => answer.decision === "ALLOW")).toBe(true);
    const over = JSON.parse((await runVerdict(read, { VERDICT_HOME: work })).stdout);
    expect(over).toMatchObject({ decision: "DENY", reasons: [{ code: "rate_limited" }] });
    expect(over.retry_after_ms).toBeGreaterThan(30_000);
    expect(over.retry_after_ms).toBeLessThanOrEqual(61_000);
  });
});

describe("verdict check --input FILE", () => {
  it("sends the request in the file: the same decision as the flags give", async () => {
    const path = file("one.json", {
      action: "customers:export",
      resource: { type: "customer_list", id: "l-1", attributes: { classification: "internal" } },
      context: {},
      request_id: "req-from-file",
    });
    const run = await check(["--input", path]);
    expect(run.code).toBe(0);
    expect(JSON.parse(run.stdout)).toMatchObject({ decision: "ALLOW" });
    const viaStdin = await check(["--input", "-"], JSON.stringify({ action: "customers:export", resource: { type: "customer_list", id: "l-1" } }));
    expect(JSON.parse(viaStdin.stdout)).toMatchObject({ decision: "STEP_UP" });
  });

  it("sends {items: [...]} as one CheckBatch: each item its own decision, and the policy sees the batch as a whole", async () => {
    // a person deleting 3 invoices and reading one in one batch: below every bulk threshold
    const items = Array.from({ length: 3 }, (_, i) => ({ action: "invoices:delete", resource: { type: "invoice", id: `inv-${i}` } }));
    const path = file("batch.json", {
      items: [
        ...items,
        { action: "invoices:read", resource: { type: "invoice", id: "inv-9" }, context: { note: "x" } },
        { action: "bad action!", resource: { type: "invoice", id: "x" } },
      ],
      dry_run: true,
    });
    const run = await check(["--input", path]);
    expect(run.code).toBe(0);
    const { results } = JSON.parse(run.stdout) as { results: Record<string, unknown>[] };
    expect(results).toHaveLength(5);
    for (const result of results.slice(0, 4)) expect(result).toMatchObject({ decision: "ALLOW", principal: { subject: "alice" } });
    const ids = results.slice(0, 4).map((r) => r["decision_id"]);
    expect(new Set(ids).size).toBe(4);
    // the malformed item is refused on its own, the others still decided
    expect(results[4]).toEqual({ error: { code: "invalid_argument", message: expect.stringContaining("action must be") } });
  });

  it("a batch of an agent's deletes is judged as a whole: 11 in one batch need a step-up for every one", async () => {
    const agent = await server.issuer.token({ sub: "alice", client_id: "agent-7", client_type: "ai-agent", scope: "invoices:write" });
    const items = Array.from({ length: 11 }, (_, i) => ({ action: "invoices:delete", resource: { type: "invoice", id: `inv-${i}` } }));
    const run = await runVerdict(
      ["check", "--addr", server.address, "--api-key", server.apiKey, "--token", agent, "--input", file("agent-batch.json", { items, dry_run: true })],
      { VERDICT_HOME: work },
    );
    const { results } = JSON.parse(run.stdout) as { results: { decision: string; reasons: { code: string }[] }[] };
    expect(results).toHaveLength(11);
    for (const result of results) expect(result).toMatchObject({ decision: "STEP_UP", reasons: [{ code: "bulk_step_up_required" }] });
  });

  it("names what does not fit in the file, and where, exit 2", async () => {
    const typo = await check(["--input", file("typo.json", { action: "invoices:read", resource: { type: "invoice", id: "1", atributes: {} } })]);
    expect(typo.code).toBe(2);
    expect(typo.stderr).toContain("resource");
    expect(typo.stderr).toContain("atributes");

    const badItem = await check([
      "--input",
      file("bad-item.json", { items: [{ action: "invoices:read", resource: { type: "invoice", id: "1" } }, { action: "x" }] }),
    ]);
    expect(badItem.code).toBe(2);
    expect(badItem.stderr).toContain("items[1].resource");

    let deep: unknown = [];
    for (let level = 0; level < 3_000; level++) deep = [deep];
    const tooDeep = await check(["--input", file("deep.json", { action: "invoices:read", resource: { type: "invoice", id: "1" }, context: { a: deep } })]);
    expect(tooDeep.code).toBe(2);
    expect(tooDeep.stderr).toContain("context");
    expect(tooDeep.stderr).toContain("a Struct nests at most 32 levels");

    const notJson = await check(["--input", join(work, "missing.json")]);
    expect(notJson.code).toBe(2);
    expect(notJson.stderr).toContain("cannot read --input");
  });

  it("keeps the token out of the file, the flags out of --input, and --explain out of a batch", async () => {
    const withToken = await check(["--input", file("token.json", { token: "eyJ...", action: "a", resource: { type: "t", id: "" } })]);
    expect(withToken.code).toBe(2);
    expect(withToken.stderr).toContain("the token goes in --token");

    const mixed = await check([
      "--input",
      file("mixed.json", { action: "invoices:read", resource: { type: "invoice", id: "1" } }),
      "--action",
      "invoices:read",
    ]);
    expect(mixed.code).toBe(2);
    expect(mixed.stderr).toContain("leave out --action");

    const explain = await check([
      "--input",
      file("explain.json", { items: [{ action: "invoices:read", resource: { type: "invoice", id: "1" } }] }),
      "--explain",
    ]);
    expect(explain.code).toBe(2);
    expect(explain.stderr).toContain("--explain is for one Check");
  });
});

describe("verdict check with the API key off the command line", () => {
  // VERDICT_HOME `work` holds no development key: the key comes from the flag or from nowhere.
  const run = (args: string[], stdin?: string) =>
    runVerdict(["check", "--addr", server.address, "--action", "invoices:read", "--resource", "invoice/1", ...args], { VERDICT_HOME: work }, stdin);

  it("takes the key from --api-key-file FILE, or from standard input with --api-key - and the token as a flag", async () => {
    const keyFile = join(work, "api-key");
    writeFileSync(keyFile, `${server.apiKey}\n`, { mode: 0o600 });
    const fromFile = await run(["--api-key-file", keyFile, "--token", person]);
    expect(fromFile.stderr).toBe("");
    expect(JSON.parse(fromFile.stdout)).toMatchObject({ decision: "ALLOW" });
    const fromStdin = await run(["--api-key", "-", "--token", person], `${server.apiKey}\n`);
    expect(fromStdin.stderr).toBe("");
    expect(JSON.parse(fromStdin.stdout)).toMatchObject({ decision: "ALLOW" });
    // The key from a file beside the token from standard input.
    const both = await run(["--api-key-file", keyFile, "--token", "-"], person);
    expect(JSON.parse(both.stdout)).toMatchObject({ decision: "ALLOW" });
  });

  it("refuses the key and the token, or the key and the request, both from standard input: exit 2", async () => {
    const refused = await run(["--api-key", "-", "--token", "-"], `${server.apiKey}\n${person}\n`);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain("--api-key - and --token - cannot both read standard input");
    const withInput = await runVerdict(["check", "--addr", server.address, "--api-key", "-", "--token", person, "--input", "-"], { VERDICT_HOME: work }, "{}");
    expect(withInput.code).toBe(2);
    expect(withInput.stderr).toContain("--api-key - and --input - cannot both read standard input");
  });
});
