// CheckBatch: one token, many items, each decided on its own.
import * as grpc from "@grpc/grpc-js";
import { createHash, randomUUID } from "node:crypto";
import { calculateJwkThumbprint, exportJWK, generateKeyPair, SignJWT } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { CheckResponseMessage } from "@verdict/sdk/wire";
import { buildFixtureBundle } from "../support/bundles.js";
import { startTestVerdict, type TestVerdict } from "../support/verdict.js";

let t: TestVerdict;

beforeAll(async () => {
  t = await startTestVerdict({ config: { bundle: await buildFixtureBundle("state-policy"), max_batch_items: 20 } });
});
afterAll(async () => {
  await t?.stop();
});

async function batch(
  token: string,
  items: Parameters<TestVerdict["client"]["checkBatch"]>[0]["items"],
  extra: Partial<Parameters<TestVerdict["client"]["checkBatch"]>[0]> = {},
) {
  const result = await t.client.checkBatch({ token, items, ...extra });
  if (!result.ok) throw new Error(`CheckBatch failed: ${result.details}`);
  return result.response.results;
}

const responses = (results: Awaited<ReturnType<typeof batch>>) => results.map((r) => r.response as CheckResponseMessage);

describe("CheckBatch", () => {
  it("decides each item on its own: allow, deny and step-up side by side, each with its own decision id", async () => {
    const token = await t.issuer.token({ sub: `user-${randomUUID()}` });
    const results = responses(await batch(token, [{ action: "read" }, { action: "nope" }, { action: "transfer_or_step_up", context: { amount: 5000 } }]));
    expect(results.map((r) => r.decision)).toEqual(["ALLOW", "DENY", "STEP_UP"]);
    expect(new Set(results.map((r) => r.decision_id)).size).toBe(3);
    expect(results.every((r) => r.principal?.subject === results[0]?.principal?.subject)).toBe(true);
  });

  it("applies each item's obligations in order: 12 transfers of 100 under 1000 give the first 10", async () => {
    const token = await t.issuer.token({ sub: `user-${randomUUID()}` });
    const results = responses(
      await batch(
        token,
        Array.from({ length: 12 }, () => ({ action: "transfer", context: { amount: 100 } })),
      ),
    );
    expect(results.map((r) => r.decision)).toEqual([...Array(10).fill("ALLOW"), "DENY", "DENY"]);
    expect(results.map((r) => r.obligations[0]?.total ?? 0)).toEqual([100, 200, 300, 400, 500, 600, 700, 800, 900, 1000, 0, 0]);
  });

  it("shows policies the batch, so a bulk operation can need step-up as a whole", async () => {
    const agent = await t.issuer.token({ client_type: "ai-agent" });
    const few = responses(
      await batch(
        agent,
        Array.from({ length: 3 }, () => ({ action: "delete" })),
      ),
    );
    expect(few.map((r) => r.decision)).toEqual(["ALLOW", "ALLOW", "ALLOW"]);
    expect(few.map((r) => r.reasons[0]?.message)).toEqual(["0 of 3", "1 of 3", "2 of 3"]);
    const many = responses(
      await batch(
        agent,
        Array.from({ length: 4 }, () => ({ action: "delete" })),
      ),
    );
    expect(many.every((r) => r.decision === "STEP_UP" && r.challenge?.acr_values[0] === "mfa")).toBe(true);
    const person = await t.issuer.token({ client_type: "user-agent" });
    expect(
      responses(
        await batch(
          person,
          Array.from({ length: 4 }, () => ({ action: "delete" })),
        ),
      ).every((r) => r.decision === "ALLOW"),
    ).toBe(true);
  });

  it("gives a malformed item its own error without sinking the batch", async () => {
    const token = await t.issuer.token();
    const results = await batch(token, [{ action: "read" }, { action: "bad action!" }, { action: "read", resource: null }, { action: "read" }]);
    expect(results.map((r) => (r.response ? "response" : r.error ? "error" : "neither"))).toEqual(["response", "error", "error", "response"]);
    expect(results[1]?.error).toMatchObject({ code: "invalid_argument", message: expect.stringContaining("action must be") });
    expect(results[2]?.error?.message).toContain("resource.type is required");
    expect(results[3]?.response?.decision).toBe("ALLOW");
  });

  it("verifies the token once: one single-use DPoP proof carries every item", async () => {
    const { privateKey, publicKey } = await generateKeyPair("ES256", { extractable: true });
    const jwk = await exportJWK(publicKey);
    const token = await t.issuer.token({ cnf: { jkt: await calculateJwkThumbprint(jwk) } });
    const url = "https://invoices.example/invoices/bulk";
    const proof = await new SignJWT({
      htm: "POST",
      htu: url,
      iat: Math.floor(Date.now() / 1000),
      jti: randomUUID(),
      ath: createHash("sha256").update(token).digest("base64url"),
    })
      .setProtectedHeader({ alg: "ES256", typ: "dpop+jwt", jwk })
      .sign(privateKey);
    const results = responses(
      await batch(
        token,
        Array.from({ length: 5 }, () => ({ action: "read" })),
        { dpop: { proof, method: "POST", url } },
      ),
    );
    expect(results.map((r) => r.decision)).toEqual(Array(5).fill("ALLOW"));
  });

  it("denies every item with invalid_token when the token is bad", async () => {
    const results = responses(await batch("not-a-token", [{ action: "read" }, { action: "transfer", context: { amount: 1 } }]));
    expect(results.map((r) => [r.decision, r.reasons[0]?.code, r.challenge?.error])).toEqual([
      ["DENY", "token_malformed", "invalid_token"],
      ["DENY", "token_malformed", "invalid_token"],
    ]);
  });

  it("refuses an empty batch and one over max_batch_items with INVALID_ARGUMENT", async () => {
    const token = await t.issuer.token();
    expect(await t.client.checkBatch({ token, items: [] })).toMatchObject({ ok: false, code: grpc.status.INVALID_ARGUMENT });
    expect(await t.client.checkBatch({ token, items: Array.from({ length: 21 }, () => ({ action: "read" })) })).toMatchObject({
      ok: false,
      code: grpc.status.INVALID_ARGUMENT,
      details: expect.stringContaining("at most 20"),
    });
  });
});

describe("CheckBatch with the shipped policies", () => {
  let demo: TestVerdict;
  beforeAll(async () => {
    demo = await startTestVerdict();
  });
  afterAll(async () => {
    await demo?.stop();
  });

  it("lets an agent delete 10 invoices in one batch, and asks for a step-up for every one of 11", async () => {
    const token = await demo.issuer.token({ scope: "invoices:write", client_type: "ai-agent", acr: "pwd" });
    const deletes = (n: number) => Array.from({ length: n }, (_, i) => ({ action: "invoices:delete", resource: { type: "invoice", id: `inv-${i}` } }));
    const ten = await demo.client.checkBatch({ token, items: deletes(10) });
    expect(ten.ok && ten.response.results.map((r) => r.response?.decision)).toEqual(Array(10).fill("ALLOW"));
    const eleven = await demo.client.checkBatch({ token, items: deletes(11) });
    expect(eleven.ok && eleven.response.results.map((r) => [r.response?.decision, r.response?.reasons[0]?.code])).toEqual(
      Array(11).fill(["STEP_UP", "bulk_step_up_required"]),
    );
    expect(eleven.ok && eleven.response.results[0]?.response?.challenge).toMatchObject({
      error: "insufficient_user_authentication",
      acr_values: ["mfa"],
      max_age: 300,
    });
  });
});
