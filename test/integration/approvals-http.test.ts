// The other doors of approvals (docs/approvals.md), against a real Verdict: the
// admin listener's /approvals routes with the person's own token, the webhook told
// of each new pending approval (a local receiver, signed, retried), and RFC 9396
// authorization details in tokens.
import { createHash, createHmac, randomUUID } from "node:crypto";
import { mkdtempSync, writeFileSync } from "node:fs";
import { createServer, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { REMIND_AFTER_MS } from "../../src/approvals/index.js";
import { connectTestClient } from "../support/mongo.js";
import { startTestVerdict, type TestVerdict } from "../support/verdict.js";

interface Delivery {
  body: string;
  timestamp: string;
  signature: string;
}

let t: TestVerdict;
let receiver: Server;
const deliveries: Delivery[] = [];
/** The receiver fails the first delivery of each approval (503), so Verdict must retry. */
const failedOnce = new Set<string>();
const secret = `whsec-${randomUUID()}`;

function read(request: IncomingMessage): Promise<string> {
  return new Promise((resolve) => {
    let text = "";
    request.on("data", (chunk: Buffer) => (text += chunk.toString("utf8")));
    request.on("end", () => resolve(text));
  });
}

beforeAll(async () => {
  receiver = createServer((request, response) => {
    void read(request).then((body) => {
      const id = (JSON.parse(body) as { approval: { approval_id: string } }).approval.approval_id;
      deliveries.push({ body, timestamp: String(request.headers["verdict-timestamp"]), signature: String(request.headers["verdict-signature"]) });
      if (!failedOnce.has(id)) {
        failedOnce.add(id);
        response.writeHead(503).end();
      } else response.writeHead(204).end();
    });
  });
  await new Promise<void>((resolve) => receiver.listen(0, "127.0.0.1", resolve));
  const secretFile = join(mkdtempSync(join(tmpdir(), "verdict-webhook-")), "secret");
  writeFileSync(secretFile, `${secret}\n`);
  t = await startTestVerdict({
    config: { approvals: { webhook: { url: `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hooks/verdict`, secret_file: secretFile } } },
  });
});
afterAll(async () => {
  await t?.stop();
  await new Promise<void>((resolve) => (receiver ? receiver.close(() => resolve()) : resolve()));
});

const now = () => Math.floor(Date.now() / 1000);
const transfer = { amount: 150, currency: "EUR", destination: "DE02100100109307118603" };

async function pending(user: string) {
  const asked = await t.client.check({
    token: await t.issuer.token({ sub: user, client_id: "agent-7", client_type: "ai-agent", scope: "payments:write" }),
    action: "payments:transfer",
    resource: { type: "account", id: "acc-1" },
    context: transfer,
  });
  expect(asked.decision).toBe("STEP_UP");
  return asked.challenge?.approval_id ?? "";
}

const userToken = (user: string, claims: Record<string, unknown> = {}) =>
  t.issuer.token({ sub: user, client_id: "bank-app", client_type: "web", scope: "payments:write", acr: "mfa", auth_time: now(), ...claims });

describe("the admin listener's approval routes", () => {
  it("shows the approval to the user's own token, and refuses a request without one", async () => {
    const user = `alice-${randomUUID().slice(0, 8)}`;
    const id = await pending(user);
    const url = `${t.verdict.adminUrl}/approvals/${id}`;
    const shown = await fetch(url, { headers: { authorization: `Bearer ${await userToken(user, { acr: "pwd" })}` } });
    expect(shown.status).toBe(200);
    expect(await shown.json()).toMatchObject({ approval_id: id, status: "pending", subject: user, action: "payments:transfer", context: transfer });
    const anonymous = await fetch(url);
    expect(anonymous.status).toBe(401);
    expect(anonymous.headers.get("www-authenticate")).toBe('Bearer error="invalid_token"');
    expect(await anonymous.json()).toMatchObject({ error: "invalid_token" });
    const stranger = await fetch(url, { headers: { authorization: `Bearer ${await userToken("mallory")}` } });
    expect(stranger.status).toBe(403);
    expect(await stranger.json()).toMatchObject({ error: "approver_not_allowed" });
  });

  it("approves with the user's MFA token, answers the same request again 409, a weak token 401 with an RFC 9470 challenge, a narrow one 403", async () => {
    const user = `alice-${randomUUID().slice(0, 8)}`;
    const id = await pending(user);
    const post = async (verdict: string, token: string, body: unknown = { reason: "yes" }) =>
      fetch(`${t.verdict.adminUrl}/approvals/${id}/${verdict}`, {
        method: "POST",
        headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
        body: JSON.stringify(body),
      });
    // a token for another action's scope: 403 naming the scope deciding needs (RFC 6750 §3.1); it still shows the approval
    const narrow = await userToken(user, { scope: "invoices:read" });
    const unscoped = await post("approve", narrow);
    expect(unscoped.status).toBe(403);
    expect(unscoped.headers.get("www-authenticate")).toBe('Bearer error="insufficient_scope", scope="payments:write"');
    expect(await unscoped.json()).toMatchObject({ error: "approval_scope_insufficient" });
    const shown = await fetch(`${t.verdict.adminUrl}/approvals/${id}`, { headers: { authorization: `Bearer ${narrow}` } });
    expect(await shown.json()).toMatchObject({ status: "pending", scopes: ["payments:write"] });
    const weak = await post("approve", await userToken(user, { acr: "pwd" }));
    expect(weak.status).toBe(401);
    expect(weak.headers.get("www-authenticate")).toBe('Bearer error="insufficient_user_authentication"');
    expect(await weak.json()).toMatchObject({ error: "approval_authentication_insufficient" });
    expect((await post("approve", await userToken(user), { reason: 42 })).status).toBe(400);
    const approved = await post("approve", await userToken(user));
    expect(approved.status).toBe(200);
    expect(await approved.json()).toMatchObject({ status: "approved", decided_by: { subject: user, acr: "mfa", via: "http", reason: "yes" } });
    const again = await post("refuse", await userToken(user));
    expect(again.status).toBe(409);
    expect(await again.json()).toMatchObject({ error: "approval_not_pending" });
  });

  it("refuses the user's DPoP-bound token as a bearer token: 401 dpop_bound_token on reading, approving and refusing, changing nothing", async () => {
    const user = `alice-${randomUUID().slice(0, 8)}`;
    const id = await pending(user);
    const url = `${t.verdict.adminUrl}/approvals/${id}`;
    const bound = `Bearer ${await userToken(user, { cnf: { jkt: createHash("sha256").update("the user's DPoP key").digest("base64url") } })}`;
    const answers = [
      await fetch(url, { headers: { authorization: bound } }),
      await fetch(`${url}/approve`, { method: "POST", headers: { authorization: bound } }),
      await fetch(`${url}/refuse`, { method: "POST", headers: { authorization: bound } }),
    ];
    for (const answer of answers) {
      expect(answer.status).toBe(401);
      expect(answer.headers.get("www-authenticate")).toBe('Bearer error="invalid_token"');
      expect(await answer.json()).toMatchObject({ error: "dpop_bound_token" });
    }
    const shown = await fetch(url, { headers: { authorization: `Bearer ${await userToken(user)}` } });
    expect(await shown.json()).toMatchObject({ status: "pending" });
  });

  it("answers 404 for an approval it does not keep and 400 for a malformed id", async () => {
    const token = await userToken("alice");
    expect((await fetch(`${t.verdict.adminUrl}/approvals/${randomUUID()}`, { headers: { authorization: `Bearer ${token}` } })).status).toBe(404);
    const malformed = await fetch(`${t.verdict.adminUrl}/approvals/not-an-id/approve`, { method: "POST", headers: { authorization: `Bearer ${token}` } });
    expect(malformed.status).toBe(400);
    expect(await malformed.json()).toMatchObject({ error: "invalid_argument" });
  });
});

describe("the approval webhook", () => {
  it("POSTs each new pending approval, signed with the shared secret, and retries after a failure", async () => {
    const user = `alice-${randomUUID().slice(0, 8)}`;
    const id = await pending(user);
    await expect.poll(() => deliveries.filter((d) => d.body.includes(id)).length, { timeout: 10_000 }).toBe(2);
    for (const delivery of deliveries.filter((d) => d.body.includes(id))) {
      const expected = `v1=${createHmac("sha256", secret).update(`${delivery.timestamp}.${delivery.body}`).digest("hex")}`;
      expect(delivery.signature).toBe(expected);
      expect(Math.abs(Number(delivery.timestamp) - now())).toBeLessThan(30);
      expect(JSON.parse(delivery.body)).toMatchObject({
        type: "approval.requested",
        approval: {
          approval_id: id,
          status: "pending",
          subject: user,
          client_id: "agent-7",
          actors: [],
          context: transfer,
          approval_url: `${t.verdict.adminUrl}/approvals/${id}`,
        },
      });
      expect(delivery.body).not.toContain("eyJ");
    }
  });
});

describe("the approval webhook, asked again", () => {
  it("announces a request asked twice while pending once: one approval, one delivery (and its one retry after the 503)", async () => {
    const user = `alice-${randomUUID().slice(0, 8)}`;
    const id = await pending(user);
    expect(await pending(user)).toBe(id);
    const forUser = () => deliveries.filter((d) => (JSON.parse(d.body) as { approval: { subject: string } }).approval.subject === user);
    await expect.poll(() => forUser().length, { timeout: 10_000 }).toBe(2);
    // the retry comes at most 0.5 s after the 503: a second announcement, or its retry, would be here by then
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    expect(forUser().map((d) => (JSON.parse(d.body) as { approval: { approval_id: string } }).approval.approval_id)).toEqual([id, id]);
  });
});

describe("the approval webhook, reminded", () => {
  it("tells the webhook again when the request is asked again five minutes or more after it was last told, once per period", async () => {
    const user = `alice-${randomUUID().slice(0, 8)}`;
    const id = await pending(user);
    const forApproval = () => deliveries.filter((d) => d.body.includes(id)).length;
    await expect.poll(forApproval, { timeout: 10_000 }).toBe(2); // told, and retried after the 503
    // Five minutes pass (its delivery may have been lost meanwhile): the next ask tells again, once.
    const mongo = await connectTestClient();
    try {
      await mongo
        .db(t.database)
        .collection("approvals")
        .updateOne({ _id: id as never }, { $set: { notified_at: new Date(Date.now() - REMIND_AFTER_MS) } });
    } finally {
      await mongo.close();
    }
    expect(await pending(user)).toBe(id);
    expect(await pending(user)).toBe(id);
    await expect.poll(forApproval, { timeout: 10_000 }).toBe(3);
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    expect(forApproval()).toBe(3);
  });
});

describe("RFC 9396 authorization details", () => {
  const detail = {
    type: "payment_initiation",
    actions: ["payments:initiate"],
    locations: ["https://invoices.example"],
    instructedAmount: { currency: "EUR", amount: "480.00" },
    creditorAccount: { iban: "DE02100100109307118603" },
  };
  const initiate = async (token: string, amount: number) =>
    t.client.check({ token, action: "payments:initiate", resource: { type: "account", id: "acc-1" }, context: { ...transfer, amount } });

  it("reach the policy from a verified token and the principal: a covered payment is allowed once, through the token's jti", async () => {
    const token = await t.issuer.token({
      sub: "alice",
      client_id: "agent-7",
      client_type: "ai-agent",
      scope: "payments:write",
      authorization_details: [detail],
    });
    const first = await initiate(token, 480);
    expect(first.decision).toBe("ALLOW");
    expect(first.principal?.authorization_details).toEqual([detail]);
    const replay = await initiate(token, 480);
    expect(replay.decision).toBe("DENY");
    expect(replay.reasons.map((r) => r.code)).toEqual(["token_replayed"]);
  });

  it("deny more than the authorized amount with insufficient_authorization naming the details to obtain", async () => {
    const token = await t.issuer.token({
      sub: "alice",
      client_id: "agent-7",
      client_type: "ai-agent",
      scope: "payments:write",
      authorization_details: [detail],
    });
    const over = await initiate(token, 481);
    expect(over.decision).toBe("DENY");
    expect(over.reasons.map((r) => r.code)).toEqual(["authorization_details_insufficient"]);
    expect(over.challenge).toMatchObject({
      error: "insufficient_authorization",
      authorization_details: [{ ...detail, instructedAmount: { currency: "EUR", amount: "481" } }],
    });
  });

  it("refuses a token whose authorization_details is not an array of typed objects", async () => {
    const token = await t.issuer.token({ sub: "alice", client_id: "agent-7", scope: "payments:write", authorization_details: [{ actions: ["x"] }] });
    const answer = await initiate(token, 1);
    expect(answer.decision).toBe("DENY");
    expect(answer.reasons.map((r) => r.code)).toEqual(["claim_type_invalid"]);
  });
});
