// One process of `verdict serve`: its own admin listener is private, so the links its
// approvals name are on the primary's admin_listen. The primary says that URL over IPC;
// the process does not serve until it has, so no decision names a link without a host.
// (The primary answers here later than a start takes, so a start that did not wait serves first.)
import { setTimeout as sleep } from "node:timers/promises";
import { randomBytes, randomUUID } from "node:crypto";
import { afterAll, describe, expect, it } from "vitest";
import { hashApiKey } from "../../src/server/index.js";
import { TEST_AUDIENCE, TEST_SCOPES } from "../support/issuer.js";
import { startTestVerdict, type TestVerdict } from "../support/verdict.js";

const PRIMARY = "https://verdict.primary.example";
const apiKey = `vdk_test_${randomBytes(16).toString("hex")}`;
const config = {
  apis: [{ name: "invoices-api", audience: TEST_AUDIENCE, key_sha256: hashApiKey(apiKey), scopes: [...TEST_SCOPES], grants: ["approvals" as const] }],
};

const started: TestVerdict[] = [];
afterAll(async () => {
  for (const t of started) await t.stop();
});

describe("a worker's approval links", () => {
  it("name the primary's admin_listen from the first decision, however late the primary says it", async () => {
    let said = false;
    const primaryAdminUrl = sleep(2_000).then(() => ((said = true), PRIMARY));
    const t = await startTestVerdict({ apiKey, config, primaryAdminUrl });
    started.push(t);
    expect(said).toBe(true);
    const sub = `alice-${randomUUID().slice(0, 8)}`;
    const asked = await t.client.check({
      token: await t.issuer.token({ sub, client_id: "agent-7", client_type: "ai-agent", scope: "payments:write" }),
      action: "payments:transfer",
      resource: { type: "account", id: `acc-${randomUUID()}` },
      context: { amount: 150, currency: "EUR", destination: "DE02100100109307118603" },
    });
    expect(asked.decision).toBe("STEP_UP");
    const id = asked.challenge?.approval_id ?? "";
    expect(id).not.toBe("");
    expect(asked.challenge?.approval_url).toBe(`${PRIMARY}/approvals/${id}`);
  });

  it("are never without a host: a process whose primary does not say does not start", async () => {
    const primaryAdminUrl = Promise.reject(new Error("the primary did not say admin_listen's URL within 30 s"));
    primaryAdminUrl.catch(() => undefined);
    await expect(startTestVerdict({ apiKey, config, primaryAdminUrl })).rejects.toThrow(/did not say admin_listen's URL/);
  });
});
