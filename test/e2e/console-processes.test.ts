// The console of a multi-process `verdict serve`: turning it on no longer costs the
// decision processes. With processes: 2 and console.enabled, two processes decide and
// one more serves only the console, reached through the primary's admin listener;
// the console answers with its own protections, and every Check goes to the deciding
// processes (the console's process has no gRPC listener and counts no decision).
import { getPriority } from "node:os";
import * as grpc from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { CONSOLE_NICENESS } from "../../src/cluster/index.js";
import { CONTENT_SECURITY_POLICY } from "../../src/server/admin/console/index.js";
import { writeServeConfig } from "../support/config.js";
import { serveVerdict, stopProcess, type ServingVerdict, alive } from "../support/cli.js";
import { consoleCall, consoleToken } from "../support/console.js";
import { TestClient } from "../support/grpc.js";
import { createTestIssuer, type TestIssuer } from "../support/issuer.js";
import { uniqueDatabaseName } from "../support/mongo.js";

const API_KEY = "console-processes-key";
let issuer: TestIssuer;
let serving: ServingVerdict;
let admin: string;

/** The JSON log lines of the server so far. */
const logLines = () => serving.logLines();
const byMessage = (msg: string) => logLines().filter((line) => line["msg"] === msg);

/** Decisions a process counted (verdict_decisions_total summed over its labels). */
function decisionsCounted(metrics: string): number {
  return metrics
    .split("\n")
    .filter((line) => line.startsWith("verdict_decisions_total{"))
    .reduce((sum, line) => sum + Number(line.slice(line.lastIndexOf(" ") + 1)), 0);
}

beforeAll(async () => {
  issuer = await createTestIssuer();
  const config = writeServeConfig("console-processes", issuer, API_KEY, {
    processes: 2,
    mongodb_database: uniqueDatabaseName("console_processes"),
    console: { enabled: true },
    log_level: "info",
  });
  serving = await serveVerdict(["--config", config]);
  admin = String(byMessage("verdict is serving")[0]?.["admin"]);
});

afterAll(async () => {
  if (serving) await stopProcess(serving.child);
});

describe("verdict serve with processes: 2 and the console on", () => {
  it("keeps two deciding processes and starts one more for the console", () => {
    expect(byMessage("verdict is serving")[0]).toMatchObject({ processes: 2, console: `${admin}/console/` });
    const deciding = byMessage("verdict process is serving");
    expect(new Set(deciding.map((line) => line["pid"])).size).toBe(2);
    expect(deciding.every((line) => line["address"] === serving.address)).toBe(true);
    const consoleProcess = byMessage("verdict console process is serving");
    expect(consoleProcess).toHaveLength(1);
    expect(consoleProcess[0]).toMatchObject({ role: "console", address: "" });
    expect(deciding.map((line) => line["pid"])).not.toContain(consoleProcess[0]?.["pid"]);
  });

  it("runs the console's process at a lower CPU priority than the deciding ones, so that shared CPUs run decisions first", () => {
    const consolePid = Number(byMessage("verdict console process is serving")[0]?.["pid"]);
    expect(getPriority(consolePid)).toBe(CONSOLE_NICENESS);
    for (const line of byMessage("verdict process is serving")) expect(getPriority(Number(line["pid"]))).toBe(getPriority(process.pid));
  });

  it("serves the console's pages and API through the primary's admin listener, with the console's protections", async () => {
    const page = await fetch(`${admin}/console/`);
    expect(page.status).toBe(200);
    expect(page.headers.get("content-security-policy")).toBe(CONTENT_SECURITY_POLICY);
    expect(page.headers.get("x-frame-options")).toBe("DENY");
    expect(await page.text()).toMatch(/<html/i);

    // No token: the sign-in prompt's answer, from the console's own verification.
    const anonymous = await consoleCall(admin, "/console/api/session");
    expect(anonymous.status).toBe(401);
    expect(anonymous.body).toMatchObject({ error: "unauthenticated", reason: "token_missing" });
    const session = await consoleCall(admin, "/console/api/session", { token: await consoleToken(issuer) });
    expect(session.status).toBe(200);
    expect(session.body["operator"]).toMatchObject({ subject: "ops-1", client_id: "verdict-console" });

    // A write from another origin is refused by the console (Origin checked against the Host the browser sent).
    const foreign = await consoleCall(admin, "/console/api/agents/agent-x/suspend", {
      token: await consoleToken(issuer),
      method: "POST",
      body: { reason: "r" },
      headers: { origin: "https://evil.example" },
    });
    expect(foreign.status).toBe(403);
    expect(foreign.body["error"]).toBe("cross_site_request");
    const own = await consoleCall(admin, "/console/api/playground", {
      token: await consoleToken(issuer),
      method: "POST",
      body: {
        principal: { subject: "alice", client_id: "agent-7", client_type: "ai-agent", scopes: ["invoices:read"] },
        action: "invoices:read",
        resource: { type: "invoice", id: "inv-1" },
      },
      headers: { origin: admin },
    });
    expect(own.status).toBe(200);
  });

  it("sends every Check to the deciding processes, and the console reads their decisions", async () => {
    const token = await issuer.token({ sub: "reader", client_id: "agent-seen", client_type: "ai-agent" });
    const clients = Array.from(
      { length: 4 },
      () => new TestClient(serving.address, API_KEY, grpc.credentials.createInsecure(), { "grpc.use_local_subchannel_pool": 1 }),
    );
    try {
      const answers = await Promise.all(clients.flatMap((c) => Array.from({ length: 5 }, () => c.check({ token, action: "invoices:read" }))));
      expect(answers.every((answer) => answer.decision === "ALLOW")).toBe(true);
    } finally {
      for (const c of clients) c.close();
    }
    // The primary's metrics sum every process's; the console process's own (its private listener) counted none.
    const all = decisionsCounted(await (await fetch(`${admin}/metrics`)).text());
    expect(all).toBe(20);
    const consoleAdmin = String(byMessage("verdict console process is serving")[0]?.["admin"]);
    expect(consoleAdmin).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(decisionsCounted(await (await fetch(`${consoleAdmin}/metrics`)).text())).toBe(0);
    // The trail the deciding processes wrote, read by the console's process.
    const operator = await consoleToken(issuer, "console:read");
    await vi.waitFor(
      async () => {
        const page = await consoleCall(admin, "/console/api/decisions?agent=agent-seen&limit=50", { token: operator });
        expect(page.status).toBe(200);
        expect(page.body["decisions"]).toHaveLength(20);
      },
      { timeout: 10_000, interval: 250 },
    );
  });

  it("is ready while the deciding processes are, and stops every process on SIGTERM", async () => {
    const ready = await fetch(`${admin}/readyz`);
    expect(ready.status).toBe(200);
    const pids = [...byMessage("verdict process is serving"), ...byMessage("verdict console process is serving")].map((line) => Number(line["pid"]));
    expect(pids).toHaveLength(3);
    expect(await stopProcess(serving.child)).toBe(0);
    expect(pids.filter(alive)).toEqual([]);
  });
});
