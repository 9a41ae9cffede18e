// The Express and Fastify middleware, each on a real server on a loopback port,
// against a real Verdict: every row of the decision-to-HTTP table, DPoP, and
// failing closed.
import { randomUUID } from "node:crypto";
import { EventEmitter, once } from "node:events";
import type { AddressInfo } from "node:net";
import express, { type Request } from "express";
import Fastify, { type FastifyRequest } from "fastify";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { verdictExpress, verdictFastify, verdictOf, type GuardOptions, type VerdictClient } from "@verdict/sdk";
import { createDpopKey, send } from "./support/http.js";
import { startTcpProxy } from "./support/tcp-proxy.js";
import { closedAddress, startSdkVerdict, type SdkTestVerdict } from "./support/verdict.js";

const PUBLIC_BASE_URL = "https://invoices.example";

interface RunningApp {
  url: string;
  close(): Promise<void>;
}

/** The same routes in each framework: what each guard protects, and what its handler sees. */
async function startExpress(client: VerdictClient, options: GuardOptions = {}): Promise<RunningApp> {
  const app = express();
  app.use(express.json());
  const verdict = verdictExpress(client, options);
  const behindProxy = verdictExpress(client, { ...options, publicBaseUrl: PUBLIC_BASE_URL });
  const principalOf = (req: Request) => {
    const { principal, decisionId } = verdictOf(req);
    return { subject: principal.subject, client_id: principal.clientId, decision_id: decisionId };
  };
  app.get("/invoices", verdict({ action: "invoices:read", resource: { type: "invoice" } }), (req, res) => {
    res.json(principalOf(req));
  });
  app.post(
    "/invoices/:id/dispute",
    verdict<Request>({ action: "invoices:dispute", resource: (req) => ({ type: "invoice", id: String(req.params["id"]) }) }),
    (req, res) => {
      res.json(principalOf(req));
    },
  );
  app.post(
    "/invoices/:id/approve",
    verdict<Request>({ action: "invoices:approve", resource: (req) => ({ type: "invoice", id: String(req.params["id"]) }) }),
    (req, res) => {
      res.json(principalOf(req));
    },
  );
  app.delete("/invoices", verdict({ action: "invoices:purge", resource: { type: "invoice" } }), (req, res) => {
    res.json(principalOf(req));
  });
  app.post(
    "/transfers",
    verdict<Request>({ action: "payments:transfer", resource: { type: "account" }, context: (req) => ({ amount: (req.body as { amount: number }).amount }) }),
    (req, res) => {
      res.json({ ...principalOf(req), total: verdictOf(req).obligations[0]?.total });
    },
  );
  app.get("/exports", verdict({ action: "invoices:export", resource: { type: "invoice" } }), (req, res) => {
    res.json(principalOf(req));
  });
  app.get("/api/invoices", behindProxy({ action: "invoices:read", resource: { type: "invoice" } }), (req, res) => {
    res.json(principalOf(req));
  });
  app.get("/unguarded", (req, res) => {
    res.json(principalOf(req));
  });
  const server = app.listen(0, "127.0.0.1");
  await new Promise<void>((resolve) => server.once("listening", () => resolve()));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

async function startFastify(client: VerdictClient, options: GuardOptions = {}): Promise<RunningApp> {
  const app = Fastify();
  app.decorateRequest("verdict", null);
  const verdict = verdictFastify(client, options);
  const behindProxy = verdictFastify(client, { ...options, publicBaseUrl: PUBLIC_BASE_URL });
  const principalOf = (req: FastifyRequest) => {
    const { principal, decisionId } = verdictOf(req);
    return { subject: principal.subject, client_id: principal.clientId, decision_id: decisionId };
  };
  type WithId = FastifyRequest<{ Params: { id: string } }>;
  app.get("/invoices", { preHandler: verdict({ action: "invoices:read", resource: { type: "invoice" } }) }, async (req) => principalOf(req));
  app.post(
    "/invoices/:id/dispute",
    { preHandler: verdict<WithId>({ action: "invoices:dispute", resource: (req) => ({ type: "invoice", id: req.params.id }) }) },
    async (req) => principalOf(req),
  );
  app.post(
    "/invoices/:id/approve",
    { preHandler: verdict<WithId>({ action: "invoices:approve", resource: (req) => ({ type: "invoice", id: req.params.id }) }) },
    async (req) => principalOf(req),
  );
  app.delete("/invoices", { preHandler: verdict({ action: "invoices:purge", resource: { type: "invoice" } }) }, async (req) => principalOf(req));
  app.post(
    "/transfers",
    {
      preHandler: transferRule(verdict),
    },
    async (req) => ({ ...principalOf(req), total: verdictOf(req).obligations[0]?.total }),
  );
  app.get("/exports", { preHandler: verdict({ action: "invoices:export", resource: { type: "invoice" } }) }, async (req) => principalOf(req));
  app.get("/api/invoices", { preHandler: behindProxy({ action: "invoices:read", resource: { type: "invoice" } }) }, async (req) => principalOf(req));
  app.get("/unguarded", async (req) => principalOf(req));
  await app.listen({ port: 0, host: "127.0.0.1" });
  return { url: `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`, close: () => app.close() };
}

let t: SdkTestVerdict;
beforeAll(async () => {
  t = await startSdkVerdict();
});
afterAll(async () => {
  await t?.stop();
});

describe.each([
  ["Express", startExpress],
  ["Fastify", startFastify],
] as const)("%s middleware", (_name, start) => {
  let app: RunningApp;
  let down: RunningApp;

  beforeAll(async () => {
    app = await start(t.sdkClient());
    // The same app with Verdict unreachable.
    down = await start(t.sdkClient({ address: await closedAddress(), deadlineMs: 2_000 }), { retryAfterSeconds: 3 });
  });
  afterAll(async () => {
    await app?.close();
    await down?.close();
  });

  const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

  it("lets an allowed request through with the verified principal on req.verdict", async () => {
    const token = await t.issuer.token({ sub: "alice", client_id: "agent-1" });
    const res = await send(`${app.url}/invoices`, { headers: bearer(token) });
    expect(res.status).toBe(200);
    expect(res.json).toMatchObject({ subject: "alice", client_id: "agent-1", decision_id: expect.stringMatching(/^[0-9a-f-]{36}$/) });
  });

  it("answers a request without Authorization 401 with a bare Bearer challenge, without asking Verdict", async () => {
    for (const target of [app, down]) {
      const res = await send(`${target.url}/invoices`);
      expect(res.status).toBe(401);
      expect(res.headers["www-authenticate"]).toBe("Bearer");
      expect(res.json).toMatchObject({ reasons: [{ code: "token_missing" }] });
    }
  });

  it("answers an invalid token 401 invalid_token with Verdict's description", async () => {
    const expired = await t.issuer.token({ exp: Math.floor(Date.now() / 1000) - 3600, iat: Math.floor(Date.now() / 1000) - 7200 });
    const res = await send(`${app.url}/invoices`, { headers: bearer(expired) });
    expect(res.status).toBe(401);
    expect(res.headers["www-authenticate"]).toMatch(/^Bearer error="invalid_token", error_description="[^"]+"$/);
    expect(res.json).toMatchObject({ error: "invalid_token", decision: "DENY", reasons: [{ code: "token_expired" }], decision_id: expect.any(String) });
  });

  it("answers a missing scope 403 insufficient_scope naming the scope", async () => {
    const res = await send(`${app.url}/invoices/inv-1/dispute`, { method: "POST", headers: bearer(await t.issuer.token({ scope: "invoices:read" })) });
    expect(res.status).toBe(403);
    expect(res.headers["www-authenticate"]).toMatch(/^Bearer error="insufficient_scope", error_description="[^"]*", scope="invoices:write"$/);
    expect(res.json).toMatchObject({ error: "insufficient_scope", scope: "invoices:write", reasons: [{ code: "insufficient_scope" }] });
  });

  it("answers a step-up 401 insufficient_user_authentication with acr_values", async () => {
    const res = await send(`${app.url}/invoices/inv-1/dispute`, { method: "POST", headers: bearer(await t.issuer.token({ scope: "invoices:write" })) });
    expect(res.status).toBe(401);
    expect(res.headers["www-authenticate"]).toMatch(/^Bearer error="insufficient_user_authentication", error_description="[^"]*", acr_values="mfa"$/);
    expect(res.json).toMatchObject({ decision: "STEP_UP", acr_values: "mfa", reasons: [{ code: "step_up_required" }] });
  });

  it("adds max_age to the step-up when the policy sets one, and allows a recent authentication", async () => {
    const stale = await t.issuer.token({ scope: "invoices:write", acr: "mfa", auth_time: Math.floor(Date.now() / 1000) - 3600 });
    const res = await send(`${app.url}/invoices/inv-9/approve`, { method: "POST", headers: bearer(stale) });
    expect(res.status).toBe(401);
    expect(res.headers["www-authenticate"]).toMatch(/, acr_values="mfa", max_age=300$/);
    const fresh = await t.issuer.token({ scope: "invoices:write", acr: "mfa", auth_time: Math.floor(Date.now() / 1000) - 10 });
    expect((await send(`${app.url}/invoices/inv-9/approve`, { method: "POST", headers: bearer(fresh) })).status).toBe(200);
  });

  it("answers a policy deny 403 without a challenge", async () => {
    const res = await send(`${app.url}/invoices`, { method: "DELETE", headers: bearer(await t.issuer.token({ scope: "invoices:write" })) });
    expect(res.status).toBe(403);
    expect(res.headers["www-authenticate"]).toBeUndefined();
    expect(res.json).toMatchObject({ error: "access_denied", reasons: [{ code: "purge_disabled" }] });
  });

  it("gives the policy the context the route reads from the body, and the handler what Verdict enforced", async () => {
    const token = await t.issuer.token({ sub: `payer-${randomUUID()}`, scope: "payments:write" });
    const transfer = (amount: number) => send(`${app.url}/transfers`, { method: "POST", headers: bearer(token), body: { amount } });
    const first = await transfer(600);
    expect(first.status).toBe(200);
    expect(first.json?.["total"]).toBe(600);
    const second = await transfer(600);
    expect(second.status).toBe(403);
    expect(second.json).toMatchObject({ reasons: [{ code: "limit_exceeded" }] });
  });

  it("answers a rate limit's deny 429 with the Retry-After Verdict gives, under the policy's own reason", async () => {
    const token = await t.issuer.token({ client_id: `agent-${randomUUID()}`, scope: "invoices:read" });
    // the fixture allows an agent 2 a minute, in a sliding window of one-second buckets
    for (let i = 0; i < 2; i++) expect((await send(`${app.url}/exports`, { headers: bearer(token) })).status).toBe(200);
    const res = await send(`${app.url}/exports`, { headers: bearer(token) });
    expect(res.status).toBe(429);
    expect(res.headers["www-authenticate"]).toBeUndefined();
    // the first request's bucket leaves the window a minute after its second ends: at most 61 s from now, less the time the test took
    expect(Number(res.headers["retry-after"])).toBeGreaterThanOrEqual(50);
    expect(Number(res.headers["retry-after"])).toBeLessThanOrEqual(61);
    expect(res.json).toMatchObject({ error: "too_many_requests", decision: "DENY", reasons: [{ code: "exports_too_fast" }] });
  });

  it("answers 503 with Retry-After and no challenge when Verdict is unreachable", async () => {
    const res = await send(`${down.url}/invoices`, { headers: bearer(await t.issuer.token()) });
    expect(res.status).toBe(503);
    expect(res.headers["retry-after"]).toBe("3");
    expect(res.headers["www-authenticate"]).toBeUndefined();
    expect(res.json).toMatchObject({ error: "temporarily_unavailable", reasons: [{ code: "verdict_unavailable" }] });
  });

  it("answers an Authorization header without a usable token 400 invalid_request", async () => {
    const res = await send(`${app.url}/invoices`, { headers: { authorization: "Bearer two tokens" } });
    expect(res.status).toBe(400);
    expect(res.headers["www-authenticate"]).toMatch(/^Bearer error="invalid_request"/);
  });

  it("never lets a handler read a principal on a route without the guard", async () => {
    const res = await send(`${app.url}/unguarded`, { headers: bearer(await t.issuer.token()) });
    expect(res.status).toBe(500);
    expect(res.text).not.toContain("user-123");
  });

  describe("DPoP", () => {
    it("accepts a bound token with a proof for the method and URL the client used", async () => {
      const key = await createDpopKey();
      const token = await t.issuer.token({ cnf: { jkt: key.jkt } });
      const url = `${app.url}/invoices?status=pending`;
      const res = await send(url, { headers: { authorization: `DPoP ${token}`, dpop: await key.proof("GET", url, token) } });
      expect(res.status).toBe(200);
    });

    it("refuses a proof made for another URL 401 with a DPoP invalid_dpop_proof challenge", async () => {
      const key = await createDpopKey();
      const token = await t.issuer.token({ cnf: { jkt: key.jkt } });
      const res = await send(`${app.url}/invoices`, {
        headers: { authorization: `DPoP ${token}`, dpop: await key.proof("GET", "https://elsewhere.example/invoices", token) },
      });
      expect(res.status).toBe(401);
      expect(res.headers["www-authenticate"]).toMatch(/^DPoP error="invalid_dpop_proof", error_description="/);
      expect(res.json).toMatchObject({ reasons: [{ code: "dpop_invalid" }] });
    });

    it("refuses a bound token sent without a proof", async () => {
      const key = await createDpopKey();
      const res = await send(`${app.url}/invoices`, { headers: { authorization: `DPoP ${await t.issuer.token({ cnf: { jkt: key.jkt } })}` } });
      expect(res.status).toBe(401);
      expect(res.headers["www-authenticate"]).toMatch(/^DPoP error="invalid_dpop_proof"/);
    });

    it("binds the proof to the configured public base URL, whatever the Host header says", async () => {
      const key = await createDpopKey();
      const token = await t.issuer.token({ cnf: { jkt: key.jkt } });
      const publicUrl = `${PUBLIC_BASE_URL}/api/invoices`;
      const ok = await send(`${app.url}/api/invoices`, {
        headers: { authorization: `DPoP ${token}`, dpop: await key.proof("GET", publicUrl, token), host: "attacker.example" },
      });
      expect(ok.status).toBe(200);
      // A proof for the Host the client claims is not accepted there.
      const spoofed = await send(`${app.url}/api/invoices`, {
        headers: { authorization: `DPoP ${token}`, dpop: await key.proof("GET", "http://attacker.example/api/invoices", token), host: "attacker.example" },
      });
      expect(spoofed.status).toBe(401);
    });
  });
});

/** The Fastify routes' transfer rule: the body's amount against the user's daily limit. */
const transferRule = (verdict: ReturnType<typeof verdictFastify>) =>
  verdict<FastifyRequest<{ Body: { amount: number } }>>({
    action: "payments:transfer",
    resource: { type: "account" },
    context: (req) => ({ amount: req.body.amount }),
  });

describe("Express middleware behind a middleware that answers first", () => {
  it("passes nothing on when the request was answered before Verdict allowed it, and gives back what Verdict reserved", async () => {
    const app = express();
    app.use(express.json());
    // Answers at once and lets the route go on, as a timeout middleware does when Verdict is slower than its limit.
    app.use((_req, res, next) => {
      res.status(503).json({ error: "timed out" });
      next();
    });
    let handled = 0;
    const client = t.sdkClient();
    const verdict = verdictExpress(client);
    app.post(
      "/transfers",
      verdict<Request>({ action: "payments:transfer", resource: { type: "account" }, context: (req) => ({ amount: (req.body as { amount: number }).amount }) }),
      (_req, res) => {
        handled += 1;
        res.json({ ok: true });
      },
    );
    const server = app.listen(0, "127.0.0.1");
    await once(server, "listening");
    try {
      const token = await t.issuer.token({ sub: `payer-${randomUUID()}`, scope: "payments:write" });
      const res = await send(`http://127.0.0.1:${(server.address() as AddressInfo).port}/transfers`, {
        method: "POST",
        headers: { authorization: `Bearer ${token}` },
        body: { amount: 1000 },
      });
      expect(res.json).toEqual({ error: "timed out" });
      // Verdict allowed the whole daily limit (1000) for it; the action did not run, and the limit comes back.
      const whole = () => t.client.check({ token, action: "payments:transfer", resource: { type: "account", id: "" }, context: { amount: 1000 } });
      await expect.poll(async () => (await whole()).decision, { timeout: 2_000, interval: 50 }).toBe("ALLOW");
      expect(handled).toBe(0);
    } finally {
      client.close();
      await new Promise((resolve) => server.close(resolve));
    }
  });

  it("writes nothing to a response another middleware already answered, and the server keeps serving", async () => {
    // A Verdict slower than the app's timeout: its answers are lost on the way, so the guard's own 503 comes at the deadline.
    const proxy = await startTcpProxy(t.address);
    const slow = t.sdkClient({ address: proxy.address, deadlineMs: 500 });
    const token = await t.issuer.token();
    expect((await slow.check({ token, action: "invoices:read", resource: { type: "invoice" } })).decision).toBe("ALLOW");
    proxy.swallowAnswers();

    const guardEvents = new EventEmitter();
    const verdict = verdictExpress(slow, { onError: (error) => guardEvents.emit("gave_up", error) });
    const app = express();
    app.use((_req, res, next) => {
      // Gives up on a request after 50 ms, as connect-timeout does; the route goes on meanwhile.
      const timer = setTimeout(() => res.status(503).json({ error: "timed out" }), 50);
      res.on("close", () => clearTimeout(timer));
      next();
    });
    app.get("/invoices", verdict({ action: "invoices:read", resource: { type: "invoice" } }), (_req, res) => {
      res.json({ ok: true });
    });
    const server = app.listen(0, "127.0.0.1");
    await once(server, "listening");
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/invoices`;

    const rejections: unknown[] = [];
    const onRejection = (reason: unknown) => rejections.push(reason);
    process.on("unhandledRejection", onRejection);
    try {
      for (let i = 0; i < 2; i++) {
        const gaveUp = once(guardEvents, "gave_up");
        const res = await send(url, { headers: { authorization: `Bearer ${token}` } });
        expect(res.status).toBe(503);
        expect(res.json).toEqual({ error: "timed out" });
        // The guard had its own 503 to write once the deadline passed; a rejection it left unhandled is reported before the next timer.
        expect(await gaveUp).toMatchObject([{ code: "verdict_deadline_exceeded" }]);
        await new Promise((resolve) => setTimeout(resolve, 20));
        expect(rejections).toEqual([]);
      }
    } finally {
      process.off("unhandledRejection", onRejection);
      await new Promise((resolve) => server.close(resolve));
      await proxy.close();
    }
  });
});

describe("Fastify preHandler when the reply was sent while Verdict decided", () => {
  it("passes nothing on when the request was answered before Verdict allowed it, and gives back what Verdict reserved", async () => {
    const real = t.sdkClient();
    let answerNow: (() => void) | undefined;
    // Verdict decides (and reserves), then a timeout answers the request before the decision reaches the hook.
    const client: VerdictClient = {
      ...real,
      check: async (request, options) => {
        const decision = await real.check(request, options);
        answerNow?.();
        return decision;
      },
    };
    const app = Fastify();
    app.decorateRequest("verdict", null);
    app.addHook("onRequest", async (_request, reply) => {
      answerNow = () => void reply.code(503).send({ error: "timed out" });
    });
    let handled = 0;
    const verdict = verdictFastify(client);
    app.post(
      "/transfers",
      {
        preHandler: transferRule(verdict),
      },
      async () => {
        handled += 1;
        return { ok: true };
      },
    );
    await app.listen({ port: 0, host: "127.0.0.1" });
    try {
      const token = await t.issuer.token({ sub: `payer-${randomUUID()}`, scope: "payments:write" });
      const res = await send(`http://127.0.0.1:${(app.server.address() as AddressInfo).port}/transfers`, {
        method: "POST",
        headers: { authorization: `Bearer ${token}` },
        body: { amount: 1000 },
      });
      expect(res.status).toBe(503);
      expect(res.json).toEqual({ error: "timed out" });
      // Verdict allowed the whole daily limit (1000) for it; the action did not run, and the limit comes back.
      const whole = () => t.client.check({ token, action: "payments:transfer", resource: { type: "account", id: "" }, context: { amount: 1000 } });
      await expect.poll(async () => (await whole()).decision, { timeout: 2_000, interval: 50 }).toBe("ALLOW");
      expect(handled).toBe(0);
    } finally {
      await app.close();
    }
  });
});
