// The primary's forwarding of the admin routes a process answers (src/server/admin/forward.ts),
// over real sockets: a deciding process says it serves before its private admin listener
// is up, so a request that arrives while no process has said where that listener is
// waits for one (briefly) rather than being refused; only when none comes is it 503.
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { silentLogger } from "../../src/observability/index.js";
import { forwardRoutes, startAdminServer, type RunningAdmin } from "../../src/server/admin/index.js";

const started: { close(): Promise<void> }[] = [];
afterEach(async () => {
  for (const one of started.splice(0)) await one.close();
});

async function upstream(): Promise<string> {
  const server: Server = createServer((request, response) => {
    response.setHeader("content-type", "application/json");
    response.end(JSON.stringify({ answered: "process", path: request.url }));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  started.push({ close: () => new Promise<void>((resolve) => server.close(() => resolve())) });
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

async function primary(target: () => string | undefined): Promise<RunningAdmin> {
  const admin = await startAdminServer({
    host: "127.0.0.1",
    port: 0,
    log: silentLogger(),
    routes: [forwardRoutes({ paths: ["/approvals/*"], target, process: "a Verdict process", unavailable: "process_unavailable", log: silentLogger() })],
  });
  started.push(admin);
  return admin;
}

describe("forwarding to a process's private admin listener", () => {
  it("holds a request that arrives before any process has said where its listener is, and forwards it once one has", async () => {
    const url = await upstream();
    let target: string | undefined;
    const admin = await primary(() => target);
    const asked = fetch(`${admin.url}/approvals/a1`);
    setTimeout(() => (target = url), 150);
    const answer = await asked;
    expect(answer.status).toBe(200);
    expect(await answer.json()).toEqual({ answered: "process", path: "/approvals/a1" });
  });

  it("answers 503 with Retry-After when no process says where it listens within the wait", async () => {
    const admin = await primary(() => undefined);
    const before = performance.now();
    const answer = await fetch(`${admin.url}/approvals/a1`);
    expect(answer.status).toBe(503);
    expect(answer.headers.get("retry-after")).toBe("1");
    expect(await answer.json()).toMatchObject({ error: "not_ready" });
    // It waited for one (two seconds) rather than refusing at once.
    expect(performance.now() - before).toBeGreaterThanOrEqual(1_900);
  });
});
