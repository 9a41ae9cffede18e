/// <reference lib="dom" />
// The console in a real browser (Debian's Chromium driven by playwright-core) against
// a real Verdict: sign in, filter decisions and open one, the agents, the approvals
// inbox, the playground; the pages run under the strict CSP with no violation, and
// axe-core finds no serious or critical accessibility violation on any page.
// Screenshots of each page go to .test-results/console/ (the CI artifacts).
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import AxeBuilder from "@axe-core/playwright";
import { chromium, type Browser, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { packageRoot } from "../../src/paths.js";
import { loadConsoleFiles } from "../../src/server/admin/console/index.js";
import { buildTestBundle, policiesWithData } from "../support/bundles.js";
import { consoleToken } from "../support/console.js";
import { startTestVerdict, type TestVerdict } from "../support/verdict.js";

const SHOTS = join(packageRoot, ".test-results", "console");
/** How long a step may wait for the page: a fetch and a render, on a busy machine. */
const STEP_MS = 5_000;
/** expect.poll waiting as long as the page's own steps (its default is 1 s). */
const poll = <T>(read: () => Promise<T>) => expect.poll(read, { timeout: STEP_MS });

let t: TestVerdict;
let browser: Browser;
let page: Page;

async function screenshot(name: string): Promise<void> {
  await page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true });
}

/** axe-core on the page as it is: no serious or critical violation. */
async function accessible(): Promise<void> {
  const { violations } = await new AxeBuilder({ page }).analyze();
  const serious = violations.filter((v) => v.impact === "serious" || v.impact === "critical").map((v) => `${v.id}: ${v.help} (${v.nodes.length})`);
  expect(serious).toEqual([]);
}

beforeAll(async () => {
  const found = inject("chromium");
  if ("problem" in found) throw new Error(found.problem);
  if (!loadConsoleFiles()) throw new Error("the console is not built: run npm run build");
  mkdirSync(SHOTS, { recursive: true });
  const candidate = await buildTestBundle(policiesWithData(["settings", "limits", "payments:transfer", "per_transaction"], 300));
  t = await startTestVerdict({
    config: { console: { enabled: true }, shadow_bundle: candidate.path, audit: { flush_interval_ms: 10 } },
    consoleDevSignIn: async () => ({ token: await consoleToken(t.issuer), expiresIn: 600 }),
  });
  for (const [sub, client_id, action, scope] of [
    ["alice", "agent-a", "invoices:read", "invoices:read"],
    ["bob", "agent-a", "invoices:read", "invoices:read"],
    ["carol", "agent-b", "invoices:dispute", "invoices:read"],
    ["dave", "agent-b", "invoices:read", "invoices:read"],
  ] as const) {
    await t.client.check({ token: await t.issuer.token({ sub, client_id, scope, client_type: "ai-agent" }), action });
  }
  await t.verdict.audit?.flush();
  // Root (CI containers) needs --no-sandbox.
  browser = await chromium.launch({ executablePath: found.path, args: ["--no-sandbox", "--disable-dev-shm-usage"] });
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  // Every CSP violation the pages cause is kept, to show there is none.
  await context.addInitScript(() => {
    const seen: string[] = [];
    (window as unknown as { cspViolations: string[] }).cspViolations = seen;
    document.addEventListener("securitypolicyviolation", (event) => seen.push(`${event.violatedDirective} ${event.blockedURI}`));
  });
  page = await context.newPage();
  // A step that cannot happen fails in seconds, naming the step, rather than at the test timeout.
  page.setDefaultTimeout(STEP_MS);
});
afterAll(async () => {
  await browser?.close();
  await t?.stop();
});

const violations = () => page.evaluate(() => (window as unknown as { cspViolations: string[] }).cspViolations);

describe("the console in a browser", () => {
  it("shows a sign-in prompt, not a blank page, without a token", async () => {
    await page.goto(`${t.verdict.adminUrl}/console/`);
    await page.getByRole("heading", { name: "Sign in to the Verdict console" }).waitFor();
    // The development sign-in shows once the page has read the console's config: a fetch after the first render.
    await page.getByRole("button", { name: "Development sign-in" }).waitFor();
    await screenshot("sign-in");
    await accessible();
  });

  it("answers an expired token with the sign-in prompt and what went wrong", async () => {
    const now = Math.floor(Date.now() / 1000);
    const expired = await consoleToken(t.issuer, undefined, { iat: now - 3_600, exp: now - 600 });
    await page.getByLabel(/A bearer access token/).fill(expired);
    await page.getByRole("button", { name: "Sign in", exact: true }).click();
    await poll(() => page.getByRole("alert").first().textContent()).toMatch(/sign in again/i);
    expect(await page.getByRole("heading", { name: "Sign in to the Verdict console" }).isVisible()).toBe(true);
  });

  it("signs in with one click in development and lists the decisions with their charts", async () => {
    await page.getByRole("button", { name: "Development sign-in" }).click();
    await poll(() => page.getByRole("heading", { name: "Decisions", level: 1 }).isVisible()).toBe(true);
    await poll(() => page.locator("table tbody tr").count()).toBe(4);
    expect(await page.locator("canvas").count()).toBe(3);
    expect(await page.getByRole("img", { name: /Top denial reasons: insufficient_scope 1/ }).count()).toBe(1);
    // The token is in the tab's sessionStorage, never in the URL.
    expect(page.url()).not.toMatch(/eyJ/);
    await screenshot("decisions");
    await accessible();
  });

  it("filters the decisions and opens one", async () => {
    await page.getByLabel("Agent (client_id)").fill("agent-b");
    await page.getByLabel("Decision", { exact: true }).selectOption("DENY");
    await page.getByRole("button", { name: "Filter" }).click();
    await poll(() => page.locator("table tbody tr").count()).toBe(1);
    expect(await page.locator("table tbody tr").first().textContent()).toContain("carol");
    await page.locator("table tbody tr a").first().click();
    await poll(() => page.getByRole("heading", { name: /invoices:dispute on invoice\/inv-1/ }).isVisible()).toBe(true);
    expect(await page.locator("article").textContent()).toContain("insufficient_scope");
    expect(await page.locator("article").textContent()).toContain(t.verdict.policyRevision);
    await screenshot("decision");
    await accessible();
  });

  it("refuses a malformed filter with a message", async () => {
    await page.goto(`${t.verdict.adminUrl}/console/#/decisions`);
    await page.getByLabel("Since").fill("yesterday");
    await page.getByRole("button", { name: "Filter" }).click();
    await poll(() => page.getByRole("alert").first().textContent()).toMatch(/since must be a duration/);
  });

  it("lists the agents with their users and opens one", async () => {
    await page.getByRole("link", { name: "Agents" }).click();
    await poll(() => page.locator("table tbody tr").count()).toBe(2);
    expect(await page.locator("table").textContent()).toContain("alice, bob");
    await screenshot("agents");
    await accessible();
    await page.getByRole("link", { name: "agent-b" }).click();
    await poll(() => page.getByRole("heading", { name: "Agent agent-b" }).isVisible()).toBe(true);
    await poll(() => page.getByRole("table", { name: "Recent decisions" }).locator("tbody tr").count()).toBe(2);
    expect(await page.locator("dl").textContent()).toContain("carol, dave");
    // The demo policy's per-agent rate counter, as agent-b's newest allowed decision left it.
    expect(await page.getByRole("table", { name: /Rate and budget use/ }).textContent()).toMatch(/rate\/agent\/.*agent-b/);
    await screenshot("agent");
    await accessible();
  });

  it("suspends an agent with a reason, and its next Check is denied; resumed, it is allowed again", async () => {
    const token = await t.issuer.token({ sub: "dave", client_id: "agent-b", scope: "invoices:read", client_type: "ai-agent" });
    expect((await t.client.check({ token, action: "invoices:read" })).decision).toBe("ALLOW");
    await page.getByLabel("Reason").fill("looping on invoices:read");
    await page.getByRole("button", { name: "Suspend agent-b" }).click();
    await poll(() => page.getByText("agent-b is suspended").isVisible()).toBe(true);
    expect(await t.client.check({ token, action: "invoices:read" })).toMatchObject({ decision: "DENY", reasons: [{ code: "principal_suspended" }] });
    await screenshot("agent-suspended");
    await accessible();
    await page.getByLabel("Reason").fill("fixed");
    await page.getByRole("button", { name: "Resume agent-b" }).click();
    await poll(() => page.getByText("agent-b is resumed").isVisible()).toBe(true);
    expect((await t.client.check({ token, action: "invoices:read" })).decision).toBe("ALLOW");
  });

  it("approves a pending request in the inbox with the user's own token, and the agent's retry is allowed once", async () => {
    // The demo policy asks for the user's approval of an agent's transfer over 100.
    const ask = {
      token: await t.issuer.token({ sub: "erin", client_id: "agent-c", client_type: "ai-agent", scope: "payments:write" }),
      action: "payments:transfer",
      resource: { type: "account", id: "acc-erin" },
      context: { amount: 150, currency: "EUR", destination: "DE02100100109307118603" },
    };
    const asked = await t.client.check(ask);
    expect(asked.reasons.map((r) => r.code)).toEqual(["approval_required"]);
    const approvalId = asked.challenge?.approval_id ?? "";

    await page.getByRole("link", { name: "Approvals" }).click();
    await poll(() => page.getByRole("heading", { name: "Approvals", level: 1 }).isVisible()).toBe(true);
    await poll(() => page.getByRole("table", { name: "1 pending" }).isVisible()).toBe(true);
    expect(await page.getByRole("table", { name: "1 pending" }).textContent()).toContain("erin");
    await screenshot("approvals");
    await accessible();
    await page.getByRole("button", { name: "Decide" }).click();
    const form = page.getByRole("form", { name: /^Decide / });
    await poll(() => form.count()).toBe(1);
    // Erin's own token from her banking app, with a fresh MFA: never the agent's.
    const erin = await t.issuer.token({
      sub: "erin",
      client_id: "bank-app",
      client_type: "web",
      scope: "payments:write",
      acr: "mfa",
      auth_time: Math.floor(Date.now() / 1000),
    });
    await form.getByLabel(/The approver's own access token/).fill(erin);
    await form.getByRole("button", { name: "Approve" }).click();
    await poll(() => page.getByText(/^Approved: .* for erin\.$/).isVisible()).toBe(true);

    expect((await t.client.check({ ...ask, approvalId })).decision).toBe("ALLOW");
    expect((await t.client.check({ ...ask, approvalId })).reasons[0]?.code).toBe("approval_used");
  });

  it("runs the playground: the active and the shadow bundle side by side", async () => {
    await page.getByRole("link", { name: "Policy playground" }).click();
    const input = {
      principal: { subject: "alice", client_id: "web-app", client_type: "web", scopes: ["payments:write"] },
      action: "payments:transfer",
      resource: { type: "account", id: "acc-1" },
      context: { amount: 400 },
      state: { spent_today: 0 },
    };
    await page.getByLabel(/^Input/).fill(JSON.stringify(input, null, 2));
    await page.getByRole("button", { name: "Evaluate" }).click();
    const active = page.getByRole("region", { name: "Active bundle" });
    const shadow = page.getByRole("region", { name: "Shadow bundle" });
    await poll(() => active.locator(".badge").textContent()).toBe("ALLOW");
    expect(await shadow.locator(".badge").textContent()).toBe("DENY");
    expect(await shadow.textContent()).toContain("limit_exceeded");
    await screenshot("playground");
    await accessible();
  });

  it("runs every page under the strict CSP without a violation, and the CSP blocks injected inline script", async () => {
    expect(await violations()).toEqual([]);
    const ran = await page.evaluate(async () => {
      const script = document.createElement("script");
      script.textContent = "window.injected = true";
      document.body.append(script);
      await new Promise((resolve) => setTimeout(resolve, 50));
      return (window as unknown as { injected?: boolean }).injected === true;
    });
    expect(ran).toBe(false);
    expect((await violations()).some((v) => v.startsWith("script-src"))).toBe(true);
  });

  it("cannot be framed by another page (clickjacking)", async () => {
    const framing = await browser.newPage();
    try {
      await framing.setContent(`<iframe src="${t.verdict.adminUrl}/console/" title="console"></iframe>`);
      await framing.waitForTimeout(500);
      const frame = framing.frames().find((f) => f.url().includes("/console/"));
      const loaded = frame ? await frame.evaluate(() => document.getElementById("app") !== null).catch(() => false) : false;
      expect(loaded).toBe(false);
    } finally {
      await framing.close();
    }
  });
});
