/// <reference lib="dom" />
// The console in a real browser (Debian's Chromium driven by playwright-core) against
// a real Verdict: sign in, filter decisions and open one, the agents, the approvals
// inbox, the playground; the pages run under the strict CSP with no violation, and
// axe-core finds no serious or critical accessibility violation on any page. And what
// it must survive: an address it cannot read (or one carrying a token), a token without
// a page's scope, data that carries HTML.
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
import { connectTestClient } from "../support/mongo.js";
import { startTestVerdict, type TestVerdict } from "../support/verdict.js";

const SHOTS = join(packageRoot, ".test-results", "console");
/** How long a step may wait for the page: a fetch and a render, on a busy machine. */
const STEP_MS = 5_000;
/** expect.poll waiting as long as the page's own steps (its default is 1 s). */
const poll = <T>(read: () => Promise<T>) => expect.poll(read, { timeout: STEP_MS });

let t: TestVerdict;
let browser: Browser;
let page: Page;

/** Where the console keeps the operator's token (console/src/api.ts). */
const TOKEN_KEY = "verdict.console.token";

async function screenshot(name: string): Promise<void> {
  await page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true });
}

/** axe-core on the page as it is: no serious or critical violation. */
async function accessible(): Promise<void> {
  await accessibleIn(page);
}
async function accessibleIn(tab: Page): Promise<void> {
  const { violations } = await new AxeBuilder({ page: tab }).analyze();
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
  page = (await newTab()).page;
});

/** A tab of its own (its own sessionStorage), keeping what it logs, the errors it throws and the dialogs it opens. */
async function newTab(): Promise<{ page: Page; logs: string[]; errors: string[]; dialogs: string[] }> {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  // Every CSP violation the pages cause is kept, to show there is none.
  await context.addInitScript(() => {
    const seen: string[] = [];
    (window as unknown as { cspViolations: string[] }).cspViolations = seen;
    document.addEventListener("securitypolicyviolation", (event) => seen.push(`${event.violatedDirective} ${event.blockedURI}`));
  });
  const tab = await context.newPage();
  // A step that cannot happen fails in seconds, naming the step, rather than at the test timeout.
  tab.setDefaultTimeout(STEP_MS);
  const logs: string[] = [];
  const errors: string[] = [];
  const dialogs: string[] = [];
  tab.on("console", (message) => logs.push(message.text()));
  tab.on("pageerror", (error) => errors.push(`${error.name}: ${error.message}`));
  tab.on("dialog", (dialog) => {
    dialogs.push(dialog.message());
    void dialog.dismiss();
  });
  return { page: tab, logs, errors, dialogs };
}

/** Signs `tab` in by pasting `token` on the sign-in page. */
async function pasteToken(tab: Page, token: string): Promise<void> {
  await tab.getByLabel(/A bearer access token/).fill(token);
  await tab.getByRole("button", { name: "Sign in", exact: true }).click();
}
afterAll(async () => {
  await browser?.close();
  await t?.stop();
});

const violations = (tab: Page = page) => tab.evaluate(() => (window as unknown as { cspViolations: string[] }).cspViolations);

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
    // the form says what her token must show: the acr, the freshness and the scope the approval asks for
    expect(await form.textContent()).toContain("(acr mfa or phr, signed in within 300 s, scope payments:write)");
    await form.getByLabel(/The approver's own access token/).fill(erin);
    await form.getByRole("button", { name: "Approve" }).click();
    await poll(() => page.getByText(/^Approved: .* for erin\.$/).isVisible()).toBe(true);

    expect((await t.client.check({ ...ask, approvalId })).decision).toBe("ALLOW");
    expect((await t.client.check({ ...ask, approvalId })).reasons[0]?.code).toBe("approval_used");

    // The trail says who approved (erin, by her own token) and which operator passed her token on.
    await t.verdict.audit?.flush();
    const mongo = await connectTestClient();
    try {
      const approved = await mongo.db(t.database).collection("decisions").findOne({ kind: "event", action: "approved", "target.approval_id": approvalId });
      expect(approved).toMatchObject({
        actor: { via: "http", subject: "erin", client_id: "bank-app", acr: "mfa" },
        details: { operator: { issuer: t.issuer.issuer, subject: "ops-1", client_id: "verdict-console" } },
      });
      expect(JSON.stringify(approved)).not.toContain(erin.split(".")[2]);
    } finally {
      await mongo.close();
    }
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

describe("the console in a browser, against what it must survive", () => {
  // Single quotes: JSON.stringify (the record's context is shown as JSON) leaves them as they are.
  const payload = (field: string) => `<img src=x onerror=alert('${field}')><script>alert('${field}')</script>`;
  const client_id = payload("client_id");
  const sub = `<svg onload=alert('sub')>`;
  // In the trail before any of these pages reads it: the console reuses a summary of the agents for 5 seconds.
  beforeAll(async () => {
    const token = await t.issuer.token({ sub, client_id, scope: "invoices:read", client_type: "ai-agent" });
    expect((await t.client.check({ token, action: "invoices:read", context: { note: payload("context") } })).decision).toBe("ALLOW");
    await t.verdict.audit?.flush();
  });

  it("shows what is wrong with an address it cannot read, and the sign-in prompt or a way on, never a blank page", async () => {
    const { page: tab, errors } = await newTab();
    try {
      // Bad percent-encoding: decodeURIComponent throws on it.
      await tab.goto(`${t.verdict.adminUrl}/console/#/agents/%E0%A4%A`);
      await tab.getByRole("heading", { name: "Sign in to the Verdict console" }).waitFor();
      expect(await tab.getByRole("alert").first().textContent()).toMatch(/not valid percent-encoding/);
      await accessibleIn(tab);
      // Signed in, the operator starts at the decisions.
      await pasteToken(tab, await consoleToken(t.issuer));
      await poll(() => tab.getByRole("heading", { name: "Decisions", level: 1 }).isVisible()).toBe(true);

      // Signed in, such an address (followed, or loaded afresh) says so, with the way on.
      for (const open of [() => tab.goto(`${t.verdict.adminUrl}/console/#/decisions/%E0%A4%A`), () => tab.reload()]) {
        await open();
        await poll(() => tab.getByRole("heading", { name: "This address shows no page" }).isVisible()).toBe(true);
        expect(await tab.getByRole("alert").textContent()).toMatch(/not valid percent-encoding/);
        expect(await tab.getByRole("button", { name: "Sign out" }).isVisible()).toBe(true);
      }
      await accessibleIn(tab);
      await tab.getByRole("link", { name: "Open the decisions" }).click();
      await poll(() => tab.getByRole("heading", { name: "Decisions", level: 1 }).isVisible()).toBe(true);

      // A page the console does not have, and the way back to the sign-in prompt.
      await tab.goto(`${t.verdict.adminUrl}/console/#/no-such-page?x=1`);
      await poll(() => tab.getByRole("alert").textContent()).toMatch(/no page at this address/);
      await tab.getByRole("button", { name: "Sign in again" }).click();
      await tab.getByRole("heading", { name: "Sign in to the Verdict console" }).waitFor();
      expect(new URL(tab.url()).hash).toBe("");
      expect(await tab.evaluate((key) => sessionStorage.getItem(key), TOKEN_KEY)).toBeNull();
      expect(errors).toEqual([]);
      expect(await violations(tab)).toEqual([]);
    } finally {
      await tab.context().close();
    }
  });

  it("takes no token from an OAuth answer in its address: removes it from there, and keeps it out of the page, the logs and storage", async () => {
    const { page: tab, logs, errors } = await newTab();
    try {
      // A token that would verify: the console still does not sign in with it.
      const token = await consoleToken(t.issuer);
      for (const fragment of [
        `#access_token=${token}&token_type=Bearer&expires_in=600`,
        "#access_token=%E0%A4%A&token_type=Bearer",
        `#/decisions&id_token=${token}`,
      ]) {
        await tab.goto(`${t.verdict.adminUrl}/console/${fragment}`);
        await tab.getByRole("heading", { name: "Sign in to the Verdict console" }).waitFor();
        await poll(() => tab.getByRole("alert").first().textContent()).toMatch(/does not take a token from its address/);
        // Gone from the address bar and from this history entry.
        await poll(async () => tab.url()).toBe(`${t.verdict.adminUrl}/console/`);
        const kept = await tab.evaluate(() =>
          JSON.stringify({ session: { ...sessionStorage }, local: { ...localStorage }, html: document.documentElement.outerHTML }),
        );
        expect(kept).not.toContain(token);
        expect(kept).not.toContain("access_token");
        expect(kept).not.toContain("%E0%A4%A");
      }
      await accessibleIn(tab);
      expect(logs.join("\n")).not.toContain(token);
      expect(errors).toEqual([]);
      // The way to sign in is right there.
      await pasteToken(tab, token);
      await poll(() => tab.getByRole("heading", { name: "Decisions", level: 1 }).isVisible()).toBe(true);
      expect(await tab.getByRole("alert").count()).toBe(0);
    } finally {
      await tab.context().close();
    }
  });

  it("keeps the operator signed in when their token lacks a page's or an action's scope, naming it; a refused token still signs out", async () => {
    const { page: tab } = await newTab();
    try {
      await tab.goto(`${t.verdict.adminUrl}/console/`);
      // A page: console:evaluate only, on the decisions.
      await pasteToken(tab, await consoleToken(t.issuer, "console:evaluate"));
      await poll(() => tab.getByRole("alert").first().textContent()).toMatch(/this needs the scope console:read/);
      // Still signed in, on the page, the token kept.
      expect(await tab.getByRole("button", { name: "Sign out" }).isVisible()).toBe(true);
      expect(await tab.getByRole("heading", { name: "Decisions", level: 1 }).isVisible()).toBe(true);
      expect(await tab.getByRole("alert").first().textContent()).toMatch(/does not allow this: this needs the scope console:read\. You are still signed in/);
      await tab.getByRole("link", { name: "Policy playground", exact: true }).click();
      await tab.getByRole("button", { name: "Evaluate" }).click();
      await poll(() => tab.getByRole("region", { name: "Active bundle" }).locator(".badge").isVisible()).toBe(true);

      // An action: console:read only, evaluating in the playground.
      await tab.getByRole("button", { name: "Sign out" }).click();
      const reader = await consoleToken(t.issuer, "console:read");
      await pasteToken(tab, reader);
      await tab.getByRole("link", { name: "Policy playground", exact: true }).click();
      await tab.getByRole("button", { name: "Evaluate" }).click();
      await poll(() => tab.getByRole("alert").first().textContent()).toMatch(/this needs the scope console:evaluate/);
      expect(await tab.getByRole("button", { name: "Sign out" }).isVisible()).toBe(true);
      expect(await tab.evaluate((key) => sessionStorage.getItem(key), TOKEN_KEY)).toBe(reader);
      expect(await tab.getByRole("alert").first().textContent()).toMatch(/this needs the scope console:evaluate\. You are still signed in/);
      await accessibleIn(tab);
      await tab.getByRole("link", { name: "Agents", exact: true }).click();
      await poll(() => tab.getByRole("heading", { name: "Agents", level: 1 }).isVisible()).toBe(true);
      await poll(() => tab.locator("table tbody tr").count()).toBeGreaterThan(0);

      // A token refused (401, expired here) while signed in: back to the sign-in prompt, the token forgotten.
      const now = Math.floor(Date.now() / 1000);
      const expired = await consoleToken(t.issuer, undefined, { iat: now - 3_600, exp: now - 600 });
      await tab.evaluate(([key, value]) => sessionStorage.setItem(key, value), [TOKEN_KEY, expired] as const);
      await tab.getByRole("link", { name: "Decisions", exact: true }).click();
      await tab.getByRole("heading", { name: "Sign in to the Verdict console" }).waitFor();
      await poll(() => tab.getByRole("alert").first().textContent()).toMatch(/sign in again/i);
      expect(await tab.evaluate((key) => sessionStorage.getItem(key), TOKEN_KEY)).toBeNull();
    } finally {
      await tab.context().close();
    }
  });

  it("keeps the operator signed in when the approver's token is refused (401 or 403 of another token): the form says why", async () => {
    const asked = await t.client.check({
      token: await t.issuer.token({ sub: "frank", client_id: "agent-c", client_type: "ai-agent", scope: "payments:write" }),
      action: "payments:transfer",
      resource: { type: "account", id: "acc-frank" },
      context: { amount: 150, currency: "EUR", destination: "DE02100100109307118603" },
    });
    expect(asked.reasons.map((r) => r.code)).toEqual(["approval_required"]);
    const { page: tab } = await newTab();
    try {
      await tab.goto(`${t.verdict.adminUrl}/console/#/approvals`);
      const operator = await consoleToken(t.issuer);
      await pasteToken(tab, operator);
      await poll(() => tab.getByRole("table", { name: "1 pending" }).isVisible()).toBe(true);
      await tab.getByRole("button", { name: "Decide" }).click();
      const form = tab.getByRole("form", { name: /^Decide / });
      const now = Math.floor(Date.now() / 1000);
      const frank = { sub: "frank", client_id: "bank-app", client_type: "web", scope: "payments:write" };
      for (const [approver, why] of [
        // Frank's own token, but without the MFA the approval asks for: 401 approval_authentication_insufficient.
        [await t.issuer.token(frank), /approval_authentication_insufficient/],
        // Frank's own token, expired: 401 invalid_token.
        [await t.issuer.token({ ...frank, acr: "mfa", auth_time: now - 3_600, iat: now - 3_600, exp: now - 600 }), /expired/i],
        // Frank's own fresh MFA token, for reading invoices only: 403 approval_scope_insufficient, not the operator's missing scope.
        [await t.issuer.token({ ...frank, scope: "invoices:read", acr: "mfa", auth_time: now }), /^approval_scope_insufficient: .*payments:write/],
      ] as const) {
        await form.getByLabel(/The approver's own access token/).fill(approver);
        await form.getByRole("button", { name: "Approve" }).click();
        await poll(() => form.getByRole("alert").textContent()).toMatch(why);
        // The operator's own sign-in is untouched.
        expect(await tab.getByRole("button", { name: "Sign out" }).isVisible()).toBe(true);
        expect(await tab.evaluate((key) => sessionStorage.getItem(key), TOKEN_KEY)).toBe(operator);
      }
      expect(await tab.getByRole("table", { name: "1 pending" }).isVisible()).toBe(true);
    } finally {
      await tab.context().close();
    }
  });

  it("shows a direction override, an isolate or a zero-width character from a token or a request as U+FFFD, on the approvals and the decisions", async () => {
    // "\u202eecila" reads as "alice"; the destination's digits would read reordered.
    const sub = "\u202eecila";
    const asked = await t.client.check({
      token: await t.issuer.token({ sub, client_id: "agent-\u2066d\u2069", client_type: "ai-agent", scope: "payments:write" }),
      action: "payments:transfer",
      resource: { type: "account", id: "acc-\u200bgrace" },
      context: { amount: 150, currency: "EUR", destination: "DE02\u202e3068117" },
    });
    expect(asked.reasons.map((r) => r.code)).toEqual(["approval_required"]);
    await t.verdict.audit?.flush();
    /** The characters that reorder or hide text (a line break is the JSON's indentation). */
    // eslint-disable-next-line no-control-regex -- it looks for control characters, to find any shown
    const hiding = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u00ad\u061c\u200b-\u200f\u2028-\u202e\u2060-\u2064\u2066-\u206f\ufeff]|[\u{E0000}-\u{E007F}]/u;
    const { page: tab } = await newTab();
    try {
      await tab.goto(`${t.verdict.adminUrl}/console/#/approvals`);
      await pasteToken(tab, await consoleToken(t.issuer));
      const pending = tab.getByRole("table", { name: "2 pending" });
      await poll(() => pending.isVisible()).toBe(true);
      // What the page says and what its attributes (labels) hold.
      const text = async () => tab.evaluate(() => `${document.body.textContent ?? ""}${document.body.outerHTML}`);
      expect(await text()).not.toMatch(hiding);
      const row = pending.locator("tbody tr", { hasText: "\uFFFDecila" });
      expect(await row.count()).toBe(1);
      const shown = (await row.textContent()) ?? "";
      expect(shown).toContain("agent-\uFFFDd\uFFFD");
      expect(shown).toContain("acc-\uFFFDgrace");
      expect(shown).toContain("DE02\uFFFD3068117");
      // The user, the agent and the action each in their own <bdi>: a value is ordered on its own.
      const isolated = await row.locator("bdi").allTextContents();
      expect(isolated).toEqual(expect.arrayContaining(["\uFFFDecila", "agent-\uFFFDd\uFFFD", "payments:transfer", "account/acc-\uFFFDgrace", "150"]));
      await row.getByRole("button", { name: "Decide" }).click();
      await poll(() => tab.getByRole("form", { name: /^Decide .*acc-\uFFFDgrace/ }).count()).toBe(1);
      expect(await text()).not.toMatch(hiding);

      // The decision that asked, in the trail and on its own.
      await tab.getByRole("link", { name: "Decisions", exact: true }).click();
      const decision = tab.locator("table tbody tr", { hasText: "\uFFFDecila" });
      await poll(() => decision.count()).toBe(1);
      expect(await decision.locator("bdi").allTextContents()).toEqual(["\uFFFDecila", "agent-\uFFFDd\uFFFD"]);
      expect(await text()).not.toMatch(hiding);
      await decision.locator("a").click();
      await poll(() => tab.locator("article.detail").isVisible()).toBe(true);
      const detail = (await tab.locator("article.detail").textContent()) ?? "";
      expect(detail).toContain("\uFFFDecila");
      expect(detail).toContain("DE02\uFFFD3068117");
      expect(await text()).not.toMatch(hiding);
      await screenshot("unprintable");
    } finally {
      await tab.context().close();
    }
  });

  it("shows HTML in an agent's client_id, a user, a suspension reason and an audit field as text: no element is made, no dialog opens", async () => {
    const { page: tab, errors, dialogs } = await newTab();
    /** Nothing the payloads would have made, anywhere in the document. */
    const injected = () => tab.locator("body img, body svg, body script, [onerror], [onload]").count();
    try {
      await tab.goto(`${t.verdict.adminUrl}/console/#/agents`);
      await pasteToken(tab, await consoleToken(t.issuer));
      const link = tab.getByRole("link", { name: client_id, exact: true });
      await poll(() => link.isVisible()).toBe(true);
      expect(await tab.locator("table").textContent()).toContain(sub);
      expect(await injected()).toBe(0);

      await link.click();
      await poll(() => tab.getByRole("heading", { name: `Agent ${client_id}` }).isVisible()).toBe(true);
      await poll(() => tab.getByRole("table", { name: "Recent decisions" }).locator("tbody tr").count()).toBe(1);
      const reason = payload("reason");
      await tab.getByLabel("Reason").fill(reason);
      await tab.getByRole("button", { name: `Suspend ${client_id}` }).click();
      await poll(() => tab.locator("dl").textContent()).toContain(`suspended: ${reason}`);
      expect(await tab.getByRole("status").textContent()).toContain(`${client_id} is suspended`);
      expect(await injected()).toBe(0);

      await tab.getByRole("table", { name: "Recent decisions" }).locator("tbody tr a").first().click();
      await poll(() => tab.locator("article.detail").isVisible()).toBe(true);
      const detail = await tab.locator("article.detail").textContent();
      expect(detail).toContain(client_id);
      expect(detail).toContain(sub);
      expect(detail).toContain(payload("context"));
      expect(await injected()).toBe(0);

      // The charts draw it on a canvas and name it in the canvas's label.
      await tab.getByRole("link", { name: "Decisions", exact: true }).click();
      await poll(() => tab.getByRole("img", { name: /Activity per agent/ }).getAttribute("aria-label")).toContain(client_id);
      expect(await injected()).toBe(0);
      await new Promise((resolve) => setTimeout(resolve, 200));
      expect(dialogs).toEqual([]);
      expect(errors).toEqual([]);
      // An inline handler that had been made would have been refused by the CSP, and reported.
      expect(await violations(tab)).toEqual([]);
    } finally {
      await tab.context().close();
    }
  });
});
