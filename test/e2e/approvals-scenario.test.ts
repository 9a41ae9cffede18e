// The approvals scenario end to end (issue 17): an AI agent acting for alice asks
// the example invoices API (Express + @verdict/sdk, on a loopback port) to transfer
// 150; Verdict (gRPC, the demo bundle, MongoDB over the wire) answers
// approval_required; alice approves with an MFA token through `verdict approvals
// approve`; the agent's retry is allowed once, a second retry is denied, and a
// changed amount is denied; `verdict audit query --approval ID` tells the story.
import { randomBytes } from "node:crypto";
import { mkdtempSync, writeFileSync } from "node:fs";
import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createVerdictClient, type VerdictClient } from "@verdict/sdk";
import { createInvoicesApp } from "../../examples/invoices-api/src/app.js";
import { hashApiKey } from "../../src/server/index.js";
import { runVerdict } from "../support/cli.js";
import { TEST_AUDIENCE, TEST_SCOPES } from "../support/issuer.js";
import { mongoUri } from "../support/mongo.js";
import { startTestVerdict, type TestVerdict } from "../support/verdict.js";

let t: TestVerdict;
let verdict: VerdictClient;
let server: Server;
let api: string;
const apiKey = `vdk_test_${randomBytes(16).toString("hex")}`;

beforeAll(async () => {
  t = await startTestVerdict({
    apiKey,
    config: { apis: [{ name: "invoices-api", audience: TEST_AUDIENCE, key_sha256: hashApiKey(apiKey), scopes: [...TEST_SCOPES], grants: ["approvals"] }] },
  });
  verdict = createVerdictClient({ address: t.address, tls: false, credential: { apiKey }, deadlineMs: 10_000 });
  server = createInvoicesApp({ verdict }).listen(0, "127.0.0.1");
  await new Promise<void>((resolve) => server.once("listening", () => resolve()));
  api = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
  verdict?.close();
  await t?.stop();
});

const rent = { amount: 150, currency: "EUR", destination: "DE02100100109307118603" };

async function transfer(token: string, body: unknown, approvalId?: string) {
  const res = await fetch(`${api}/transfers`, {
    method: "POST",
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json", ...(approvalId ? { "verdict-approval": approvalId } : {}) },
    body: JSON.stringify(body),
  });
  return { status: res.status, challenge: res.headers.get("www-authenticate"), json: (await res.json()) as Record<string, unknown> };
}

describe("an agent's transfer that needs alice's approval", () => {
  it("is approved once by alice with MFA through the CLI, used once, and told in the audit trail", async () => {
    const agent = await t.issuer.token({
      sub: "alice",
      client_id: "invoice-agent",
      client_type: "ai-agent",
      act: { sub: "invoice-agent" },
      scope: "payments:write",
    });

    // 1. The agent asks: 403 approval_required, with the approval's id and URL in the challenge and the body.
    const asked = await transfer(agent, rent);
    expect(asked.status).toBe(403);
    const approval = asked.json["approval"] as { id: string; url: string; expires_at: number; retry_header: string };
    expect(approval).toMatchObject({ url: `${t.verdict.adminUrl}/approvals/${approval.id}`, retry_header: "verdict-approval" });
    expect(asked.json["error"]).toBe("approval_required");
    expect(asked.challenge).toContain('error="approval_required"');
    expect(asked.challenge).toContain(`approval_id="${approval.id}"`);

    // 2. Retrying before alice decided does not go through.
    expect((await transfer(agent, rent, approval.id)).status).toBe(403);

    // 3. The agent's own token cannot approve; alice's password-only token is not enough; her MFA token is.
    // The token on standard input, the API's key in a file: neither on the command line.
    const keyFile = join(mkdtempSync(join(tmpdir(), "verdict-approvals-")), "api-key");
    writeFileSync(keyFile, `${apiKey}\n`, { mode: 0o600 });
    const cli = (token: string, key = ["--api-key-file", keyFile]) =>
      runVerdict(["approvals", "approve", approval.id, "--token", "-", "--addr", t.address, ...key, "--reason", "rent"], {}, token);
    const stdinTwice = await cli("x", ["--api-key", "-"]);
    expect(stdinTwice.code).toBe(2);
    expect(stdinTwice.stderr).toContain("--api-key - and --token - cannot both read standard input");
    const byAgent = await cli(
      await t.issuer.token({ sub: "alice", client_id: "invoice-agent", scope: "payments:write", acr: "mfa", auth_time: Math.floor(Date.now() / 1000) }),
    );
    expect(byAgent.code).toBe(1);
    expect(byAgent.stderr).toContain("approver_not_allowed");
    const weak = await cli(
      await t.issuer.token({ sub: "alice", client_id: "bank-app", scope: "payments:write", acr: "pwd", auth_time: Math.floor(Date.now() / 1000) }),
    );
    expect(weak.code).toBe(1);
    expect(weak.stderr).toContain("approval_authentication_insufficient");
    const approved = await cli(
      await t.issuer.token({ sub: "alice", client_id: "bank-app", scope: "payments:write", acr: "mfa", auth_time: Math.floor(Date.now() / 1000) }),
    );
    expect(approved.stderr).toBe("");
    expect(approved.code).toBe(0);
    expect(approved.stdout).toBe(`${approval.id} approved by alice (acr mfa)\n`);

    // 4. The retry naming the approval is allowed, once.
    const done = await transfer(agent, rent, approval.id);
    expect(done.status).toBe(200);
    expect(done.json["transfer"]).toMatchObject({ ...rent, from: "alice", by_client: "invoice-agent" });
    const again = await transfer(agent, rent, approval.id);
    expect(again.status).toBe(403);
    expect(again.json["reasons"]).toEqual([expect.objectContaining({ code: "approval_used" })]);

    // 5. A changed amount with the approval is denied; nothing is consumed by it.
    const changed = await transfer(agent, { ...rent, amount: 151 }, approval.id);
    expect(changed.status).toBe(403);
    expect(changed.json["reasons"]).toEqual([expect.objectContaining({ code: "approval_mismatch" })]);

    // 6. The story, in order, from the audit trail.
    await t.verdict.audit?.flush();
    const dir = mkdtempSync(join(tmpdir(), "verdict-approvals-"));
    const config = join(dir, "verdict.json");
    writeFileSync(config, JSON.stringify({ ...auditConfig(), mongodb_uri: mongoUri(), mongodb_database: t.database }));
    const story = await runVerdict(["audit", "query", "--approval", approval.id, "--json", "--config", config]);
    expect(story.stderr).toBe("");
    const events = story.stdout
      .trim()
      .split("\n")
      .map(
        (line) =>
          JSON.parse(line) as {
            action: string;
            actor: { via: string; subject?: string; client_id?: string; acr?: string };
            details?: { code?: string };
            decision_id?: string;
          },
      );
    // the agent's attempt at approving itself, and alice's too weak one, are in the story
    expect(events.map((e) => e.action)).toEqual(["requested", "decide_refused", "decide_refused", "approved", "consumed"]);
    expect(events[1]).toMatchObject({ actor: { via: "grpc", subject: "alice", client_id: "invoice-agent" }, details: { code: "approver_not_allowed" } });
    expect(events[2]).toMatchObject({ actor: { via: "grpc", subject: "alice", acr: "pwd" }, details: { code: "approval_authentication_insufficient" } });
    expect(events[3]?.actor).toMatchObject({ via: "grpc", subject: "alice", acr: "mfa" });
    expect(events[4]?.decision_id).toBe(done.json["decision_id"]);
  });
});

/** A configuration file naming the test's issuer, API and bundle: what `verdict audit query --config` reads its database from. */
function auditConfig() {
  return {
    issuers: [{ issuer: t.issuer.issuer, jwks_file: t.issuer.jwksPath, algorithms: ["ES256"] }],
    apis: [{ name: "invoices-api", audience: TEST_AUDIENCE, key_sha256: hashApiKey(apiKey), scopes: [...TEST_SCOPES] }],
    bundle: t.config.bundle,
  };
}
