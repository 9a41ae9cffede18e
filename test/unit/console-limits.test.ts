// The console's API takes a bounded share of Verdict's process: at most
// CONSOLE_MAX_IN_FLIGHT requests are answered at once, the others are refused with
// 503 busy and Retry-After rather than queued; a summary is read once however many
// ask for it at once; and until its parts have started, its API answers 503. The
// audit store is held by the test (reads wait until released); the listener and the
// token verification are the real ones.
import { afterEach, describe, expect, it } from "vitest";
import type { AuditStore } from "../../src/audit/index.js";
import { silentLogger } from "../../src/observability/index.js";
import { buildAdminApp } from "../../src/server/admin/index.js";
import { CONSOLE_MAX_IN_FLIGHT, consoleRoutes, type ConsoleParts } from "../../src/server/admin/console/index.js";
import { IssuerRegistry, TokenVerifier } from "../../src/token/index.js";
import { consoleToken } from "../support/console.js";
import { createTestIssuer, issuerConfig } from "../support/issuer.js";

type App = Awaited<ReturnType<typeof buildAdminApp>>;
let app: App | undefined;
afterEach(async () => {
  await app?.close();
  app = undefined;
});

/** An audit store whose reads wait until released: requests stay in flight as long as the test wants. */
function heldStore() {
  const waiting: (() => void)[] = [];
  let samples = 0;
  const hold = <T>(value: T) => new Promise<T>((resolve) => waiting.push(() => resolve(value)));
  const store = {
    sample: () => ((samples += 1), hold([])),
    query: () => hold({ records: [] }),
    byId: () => hold(undefined),
  } as unknown as AuditStore;
  return { store, release: () => waiting.splice(0).forEach((go) => go()), waiting: () => waiting.length, samples: () => samples };
}

async function start(parts: ConsoleParts): Promise<{ url: string; token: string }> {
  const issuer = await createTestIssuer();
  parts.verifier ??= new TokenVerifier(IssuerRegistry.fromConfig([issuerConfig(issuer)]), { clockSkewSeconds: 60, maxBytes: 8192 });
  app = await buildAdminApp({
    routes: [consoleRoutes({ config: { enabled: true, audience: "urn:verdict:console" }, parts, log: silentLogger(), files: undefined })],
    log: silentLogger(),
  });
  await app.listen({ host: "127.0.0.1", port: 0 });
  const address = app.server.address() as { port: number };
  return { url: `http://127.0.0.1:${address.port}`, token: await consoleToken(issuer) };
}

const until = async (condition: () => boolean) => {
  for (let i = 0; i < 200 && !condition(); i++) await new Promise((resolve) => setTimeout(resolve, 10));
};

/** A console whose store holds every read, and as many API requests in flight as its bound allows, waiting there. */
async function boundFilled() {
  const held = heldStore();
  const { url, token } = await start({ audit: held.store });
  const headers = { authorization: `Bearer ${token}` };
  const pending = Array.from({ length: CONSOLE_MAX_IN_FLIGHT }, (_, i) => fetch(`${url}/console/api/decisions?subject=s${i}`, { headers }));
  await until(() => held.waiting() === CONSOLE_MAX_IN_FLIGHT);
  return { held, url, headers, pending };
}

describe("the console's share of Verdict", () => {
  it("answers at most its bound of API requests at once and refuses the next with 503 busy", async () => {
    const { held, url, headers, pending } = await boundFilled();
    expect(held.waiting()).toBe(CONSOLE_MAX_IN_FLIGHT);
    const refused = await fetch(`${url}/console/api/decisions`, { headers });
    expect(refused.status).toBe(503);
    expect(refused.headers.get("retry-after")).toBe("1");
    expect(await refused.json()).toMatchObject({ error: "busy" });
    held.release();
    expect((await Promise.all(pending)).map((r) => r.status)).toEqual(Array(CONSOLE_MAX_IN_FLIGHT).fill(200));
    // The bound is given back as requests finish.
    const again = fetch(`${url}/console/api/decisions`, { headers });
    await until(() => held.waiting() === 1);
    held.release();
    expect((await again).status).toBe(200);
  });

  it("counts an API request however its path is spelled: percent-encoded, it is refused like the plain one", async () => {
    const { held, url, headers, pending } = await boundFilled();
    // The router decodes %61 ("a"): these are /console/api/decisions and /console/api/stats.
    const spelled = ["/console/%61pi/decisions", "/console/%61%70%69/stats?since=1h"];
    let settled = 0;
    const answers = spelled.map((path) =>
      fetch(`${url}${path}`, { headers }).then(async (r) => ((settled += 1), [r.status, ((await r.json()) as { error?: string }).error])),
    );
    // Refused at once; were they not counted, they would wait on the store with the others (released here until all have answered).
    await until(() => settled === spelled.length);
    await until(() => (held.release(), settled === spelled.length));
    expect(await Promise.all(answers)).toEqual(spelled.map(() => [503, "busy"]));
    expect((await Promise.all(pending)).map((r) => r.status)).toEqual(Array(CONSOLE_MAX_IN_FLIGHT).fill(200));
  });

  it("reads a summary once for every page that asks for it at the same time", async () => {
    const held = heldStore();
    const { url, token } = await start({ audit: held.store });
    const headers = { authorization: `Bearer ${token}` };
    const pages = Array.from({ length: 3 }, () => fetch(`${url}/console/api/stats?since=1h`, { headers }));
    await until(() => held.waiting() === 1);
    await new Promise((resolve) => setTimeout(resolve, 50));
    held.release();
    expect((await Promise.all(pages)).map((r) => r.status)).toEqual([200, 200, 200]);
    expect(held.samples()).toBe(1);
  });

  it("answers 503 not_ready, not an error, while the part a route reads has not started", async () => {
    const { url, token } = await start({});
    const answer = await fetch(`${url}/console/api/decisions`, { headers: { authorization: `Bearer ${token}` } });
    expect(answer.status).toBe(503);
    expect(await answer.json()).toMatchObject({ error: "not_ready" });
  });
});
