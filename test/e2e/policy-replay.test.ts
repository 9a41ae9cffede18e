// `verdict policy replay` against a real audit trail: a Verdict (gRPC over a socket,
// the shipped policies, MongoDB over the wire) records decisions, then the command,
// a separate process, replays them with a candidate that lowers the transfer limits,
// and says what would change, which records it could not reproduce and why, and
// writes nothing.
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { buildTestBundle, policiesWithData } from "../support/bundles.js";
import { runVerdict } from "../support/cli.js";
import { databaseSnapshot, mongoUri } from "../support/mongo.js";
import { startTestVerdict, type TestVerdict } from "../support/verdict.js";

let t: TestVerdict;
let candidate: { path: string; revision: string };
const ids: Record<string, string> = {};

const replay = (args: string[]) =>
  runVerdict(["policy", "replay", "--database", t.database, "--baseline", inject("bundlePath"), ...args], { MONGODB_URI: mongoUri() });

beforeAll(async () => {
  // The candidate: a person's single transfer at most 300 (was 500), 700 a day (was 1000).
  const limits = {
    per_transaction: 300,
    daily_per_user: 700,
    agent: { per_transaction: 200, daily_per_user_per_agent: 300, step_up_over: 100, step_up: { acr: "mfa", max_age: 300 } },
  };
  candidate = await buildTestBundle(policiesWithData(["settings", "limits", "payments:transfer"], limits));
  t = await startTestVerdict();
  const person = await t.issuer.token({ sub: "alice", client_id: "web-app", client_type: "web", scope: "payments:write invoices:read" });
  const transfer = async (name: string, token: string, amount: number, action = "payments:transfer") => {
    const response = await t.client.check({ token, action, resource: { type: "account", id: "acc-1" }, context: { amount } });
    ids[name] = response.decision_id;
    return response;
  };
  // alice's day: 400, 250, 200 allowed (850 of 1000), then 400 denied (only 150 left)
  expect((await transfer("allowed400", person, 400)).decision).toBe("ALLOW");
  expect((await transfer("allowed250", person, 250)).decision).toBe("ALLOW");
  expect((await transfer("allowed200", person, 200)).decision).toBe("ALLOW");
  expect(await transfer("denied400", person, 400)).toMatchObject({ decision: "DENY", reasons: [{ code: "limit_exceeded" }] });
  // an agent for bob paying an invoice (the MCP tool; an agent's transfer over 100 asks for
  // bob's approval instead, docs/approvals.md): 150 needs a fresh MFA; with one it is allowed
  // (the record cannot say how fresh)
  const agent = { sub: "bob", client_id: "agent-9", client_type: "ai-agent", scope: "payments:write" };
  expect((await transfer("agentStepUp", await t.issuer.token(agent), 150, "tools:pay_invoice")).decision).toBe("STEP_UP");
  const fresh = await t.issuer.token({ ...agent, acr: "mfa", auth_time: Math.floor(Date.now() / 1000) });
  expect((await transfer("agentMfa", fresh, 150, "tools:pay_invoice")).decision).toBe("ALLOW");
  // a read whose context holds a card number (the audit trail masks it), and a token that does not verify
  const read = await t.client.check({
    token: person,
    action: "invoices:read",
    resource: { type: "invoice", id: "inv-1" },
    context: { card_number: "4111111111111111" },
  });
  ids["maskedRead"] = read.decision_id;
  expect(read.decision).toBe("ALLOW");
  const bad = await t.client.check({ token: "not-a-token", action: "invoices:read", resource: { type: "invoice", id: "inv-1" } });
  expect(bad.decision).toBe("DENY");
  await t.verdict.audit?.flush();
});
afterAll(async () => {
  await t?.stop();
});

describe("verdict policy replay", () => {
  it("summarises what the candidate would change, by effect, action, reason and agent, with decision ids, and writes nothing", async () => {
    const before = await databaseSnapshot(t.database);
    const run = await replay(["--candidate", candidate.path, "--json"]);
    expect(run.stderr).toBe("");
    expect(run.code).toBe(0);
    const out = JSON.parse(run.stdout);
    expect(await databaseSnapshot(t.database)).toEqual(before);

    expect(out).toMatchObject({
      candidate: { revision: candidate.revision },
      baseline: { revision: t.verdict.policyRevision },
      written: "nothing: the audit trail and the counters were only read",
      read: 8,
      replayed: 7,
      not_replayed: { token_not_verified: 1, internal_error: 0 },
    });
    // 400 is over the new single limit; 200 would take the day (650 before it, from the record) over 700;
    // 250 still fits, but against a limit of 700
    expect(out.changed).toEqual({ total: 3, reproduced: 3, not_reproduced: 0, not_verified: 0 });
    expect(out.by_effect).toEqual({ "ALLOW → DENY": 2, "ALLOW → ALLOW": 1 });
    expect(out.by_action).toEqual({
      "payments:transfer": { changed: 3, replayed: 4 },
      "tools:pay_invoice": { changed: 0, replayed: 2 },
      "invoices:read": { changed: 0, replayed: 1 },
    });
    expect(out.by_reason).toEqual({ "+limit_exceeded": 2 });
    expect(out.by_agent).toEqual({ "web-app": 3 });

    const example = (id: string | undefined) => out.examples.find((e: { decision_id: string }) => e.decision_id === id);
    const key = `obligations[reserve payments:transfer/daily_per_user/${t.issuer.issuer}/alice]`;
    expect(example(ids["allowed400"])).toMatchObject({
      action: "payments:transfer",
      agent: "web-app",
      subject: "alice",
      fidelity: "reproduced",
      from: { decision: "ALLOW", reasons: [] },
      to: { decision: "DENY", reasons: ["limit_exceeded"] },
    });
    expect(example(ids["allowed250"]).changes).toEqual([{ field: `${key}.limit`, from: 1000, to: 700 }]);
    expect(example(ids["allowed200"]).changes).toEqual([
      { field: "effect", from: "allow", to: "deny" },
      { field: "reasons", to: "limit_exceeded" },
      {
        field: key,
        from: { type: "reserve", key: ["payments:transfer", "daily_per_user", t.issuer.issuer, "alice"], amount: 200, limit: 1000, window: "day" },
      },
    ]);
    expect(example(ids["denied400"])).toBeUndefined();
  });

  it("counts the records it could not reproduce, says why, and what replay cannot reproduce", async () => {
    const out = JSON.parse((await replay(["--candidate", candidate.path, "--json"])).stdout);
    // the agent's MFA was fresh when it decided; the record holds no auth_time
    expect(out.fidelity).toEqual({
      reproduced: 6,
      not_reproduced: 1,
      not_verified: 0,
      other_revisions: {},
      causes: { "auth_time is not recorded: a step-up the user had met could not be judged fresh": 1 },
    });
    expect(out.masked).toBe(1);
    // the state each transfer read: from its own record when it reserved the same counter, else the database now
    expect(out.state.from_record).toBeGreaterThanOrEqual(4);
    expect(out.state.from_database).toBeGreaterThanOrEqual(1);
    expect(out.limits.join("\n")).toMatch(/auth_time, issued_at and expires_at are not \(/);
    expect(out.limits.join("\n")).toMatch(/masks or drops/);
    expect(out.limits.join("\n")).toMatch(/input.batch is not recorded/);
  });

  it("without a baseline of the records' revision, checks none and says so", async () => {
    const out = JSON.parse((await replay(["--candidate", candidate.path, "--json", "--baseline", candidate.path])).stdout);
    expect(out.fidelity).toMatchObject({ reproduced: 0, not_reproduced: 0, not_verified: 7, other_revisions: { [t.verdict.policyRevision]: 7 } });
    // unchecked, the agent's allowed transfer (its MFA fresh then) looks like a change the candidate makes: the baseline is what tells
    expect(out.changed).toEqual({ total: 4, reproduced: 0, not_reproduced: 0, not_verified: 4 });
    expect(out.by_effect).toEqual({ "ALLOW → DENY": 2, "ALLOW → ALLOW": 1, "ALLOW → STEP_UP": 1 });
  });

  it("prints the summary for people, with the examples and the limits", async () => {
    const run = await replay(["--candidate", candidate.path, "--action", "payments:transfer"]);
    expect(run.code).toBe(0);
    expect(run.stdout).toContain("replayed 4 of 4 recorded decisions");
    expect(run.stdout).toContain("reproduces 4 of the 4 replayed decisions it made");
    expect(run.stdout).toContain("would change: 3 of 4");
    expect(run.stdout).toMatch(/ALLOW → DENY\s+2/);
    expect(run.stdout).toMatch(/\+limit_exceeded\s+2/);
    expect(run.stdout).toContain(`${ids["allowed400"]}  `);
    expect(run.stdout).toContain("nothing was written");
    expect(run.stdout).toContain("what replay cannot reproduce:");
  });

  it("takes --limit, --since and --agent, and refuses what it cannot read, exit 2", async () => {
    const newest = JSON.parse((await replay(["--candidate", candidate.path, "--json", "--limit", "2"])).stdout);
    expect(newest.read).toBe(2);
    const future = JSON.parse((await replay(["--candidate", candidate.path, "--json", "--since", new Date(Date.now() + 60_000).toISOString()])).stdout);
    expect(future.read).toBe(0);
    const agent = JSON.parse((await replay(["--candidate", candidate.path, "--json", "--agent", "agent-9"])).stdout);
    expect(agent).toMatchObject({ read: 2, changed: { total: 0 } });

    const since = await replay(["--candidate", candidate.path, "--since", "yesterday"]);
    expect(since.code).toBe(2);
    expect(since.stderr).toContain("--since must be a duration back from now");
    const missing = await runVerdict(["policy", "replay"]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain("--candidate is required");
  });
});
