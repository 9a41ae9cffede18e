// The admin routes a process answers, in a multi-process `verdict serve`: each
// process's own admin listener is on a private loopback port, so the primary's
// admin_listen forwards the Shared Signals receiver and the approval pages to a
// deciding process, and the links approvals name are admin_listen's, not a
// process's private one. Before, with processes: auto on a machine of two CPUs
// (the default), both were unreachable. A deciding process starts its private
// listener only after every process serves: the first test's request, sent the moment
// `verdict serve` says it serves, is held by the primary until one has said where it
// listens, not refused.
import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { writeServeConfig } from "../support/config.js";
import { serveVerdict, stopProcess, type ServingVerdict } from "../support/cli.js";
import { TestClient } from "../support/grpc.js";
import { createTestIssuer, type TestIssuer } from "../support/issuer.js";
import { uniqueDatabaseName } from "../support/mongo.js";

const API_KEY = "processes-admin-routes-key";
let issuer: TestIssuer;
let serving: ServingVerdict;
let client: TestClient;

beforeAll(async () => {
  issuer = await createTestIssuer();
  const config = writeServeConfig("processes-admin", issuer, API_KEY, {
    processes: 2,
    ssf: { transmitters: [{ name: "idp", issuer: "https://idp.example", jwks_file: issuer.jwksPath, audience: "urn:verdict:ssf" }] },
    mongodb_database: uniqueDatabaseName("processes_admin"),
  });
  serving = await serveVerdict(["--config", config]);
  client = new TestClient(serving.address, API_KEY);
});

afterAll(async () => {
  if (serving) await stopProcess(serving.child);
});

const now = () => Math.floor(Date.now() / 1000);

describe("verdict serve with processes: 2", () => {
  it("answers POST /ssf/events on admin_listen with the receiver's own refusal, not the primary's not_found", async () => {
    const answer = await fetch(`${serving.adminUrl}/ssf/events`, {
      method: "POST",
      headers: { "content-type": "application/secevent+jwt" },
      body: "not-a-set",
    });
    expect(answer.status).toBe(400);
    expect(await answer.json()).toMatchObject({ err: "invalid_request" });
  });

  it("names admin_listen in an approval's link, and the approval is read, approved and used through it", async () => {
    const alice = `alice-${randomUUID().slice(0, 8)}`;
    const account = `acc-${randomUUID()}`;
    const ask = async (approvalId?: string) =>
      client.checkPastPauses({
        token: await issuer.token({ sub: alice, client_id: "agent-7", client_type: "ai-agent", scope: "payments:write" }),
        action: "payments:transfer",
        resource: { type: "account", id: account },
        context: { amount: 150, currency: "EUR", destination: "DE02100100109307118603" },
        ...(approvalId !== undefined ? { approvalId } : {}),
      });
    const asked = await ask();
    expect(asked.decision).toBe("STEP_UP");
    const id = asked.challenge?.approval_id ?? "";
    expect(id).not.toBe("");
    expect(asked.challenge?.approval_url).toBe(`${serving.adminUrl}/approvals/${id}`);

    const own = `Bearer ${await issuer.token({ sub: alice, client_id: "bank-app", client_type: "web", scope: "payments:write", acr: "mfa", auth_time: now() })}`;
    const viewed = await fetch(asked.challenge?.approval_url ?? "", { headers: { authorization: own } });
    expect(viewed.status).toBe(200);
    expect(await viewed.json()).toMatchObject({ approval_id: id, status: "pending", subject: alice, client_id: "agent-7" });

    const approved = await fetch(`${serving.adminUrl}/approvals/${id}/approve`, {
      method: "POST",
      headers: { authorization: own, "content-type": "application/json" },
      body: JSON.stringify({ reason: "yes, that one" }),
    });
    expect(approved.status).toBe(200);
    expect(await approved.json()).toMatchObject({ approval_id: id, status: "approved" });

    expect((await ask(id)).decision).toBe("ALLOW");
  });

  it("still answers an admin path nobody serves with the primary's not_found", async () => {
    const answer = await fetch(`${serving.adminUrl}/nothing-here`);
    expect(answer.status).toBe(404);
    expect(await answer.json()).toMatchObject({ error: "not_found" });
  });
});
