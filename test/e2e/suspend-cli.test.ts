// The kill switch as a user runs it next to `npm start` (serve --profile dev, its
// own local database): `verdict suspend`, `verdict suspensions`, `verdict resume`
// with the development API's key (it holds every grant), `verdict check` denying,
// and `verdict audit query --kind suspension` showing who did what and why.
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { DEV_API_AUDIENCE, devApiKeyPath, devMcpApiKeyPath, mintDevToken } from "../../src/dev/index.js";
import { runVerdict, serveVerdict, stopProcess, type ServingVerdict } from "../support/cli.js";
import { TestClient } from "../support/grpc.js";

const home = mkdtempSync(join(tmpdir(), "verdict-home-"));
// A user's shell: no MONGODB_URI, so serve and audit query share the local database.
const env = { MONGODB_URI: undefined, VERDICT_HOME: home };
const verdict = (args: string[]) => runVerdict(args, env);
let server: ServingVerdict;
let client: TestClient;

beforeAll(async () => {
  server = await serveVerdict(["--profile", "dev", "--listen", "127.0.0.1:0"], env);
  // Checks over gRPC with the development API's key: the commands under test are the CLI's own.
  client = new TestClient(server.address, readFileSync(devApiKeyPath(home), "utf8").trim());
});
afterAll(async () => {
  client?.close();
  if (server) expect(await stopProcess(server.child)).toBe(0);
});

describe("verdict suspend, suspensions, resume against npm start", () => {
  // One story in order, each step its own test: suspend, list, resume, then the trail.
  const at = () => ["--addr", server.address];
  let check: () => ReturnType<TestClient["check"]>;

  it("suspends an agent: its Checks are denied principal_suspended, and suspending it again changes nothing", async () => {
    // A person's client: its reads need no state, so only the suspension can deny them (a cold local-mongo may miss the 50 ms state deadline).
    const token = await mintDevToken(home, {
      subject: "alice",
      clientId: "web-app",
      clientType: "web",
      scopes: ["invoices:read"],
      audience: DEV_API_AUDIENCE,
      ttlSeconds: 600,
    });
    check = () => client.check({ token, action: "invoices:read" });
    expect(await check()).toMatchObject({ decision: "ALLOW" });

    const suspended = await verdict(["suspend", ...at(), "--agent", "web-app", "--reason", "loops on refunds", "--for", "1h", "--by", "alice"]);
    expect(suspended.code, suspended.stderr).toBe(0);
    expect(suspended.stdout).toMatch(/^suspended: agent web-app until \S+ \(admin, by alice via grpc, since \S+\): loops on refunds\n$/);
    // npm start serves with several processes on a machine of two CPUs or more: the one that took the Suspend
    // denies at once, the others within a second (docs/suspensions.md); a Check may reach any of them.
    await vi.waitFor(async () => expect(await check()).toMatchObject({ decision: "DENY", reasons: [{ code: "principal_suspended" }] }), {
      timeout: 1_000,
      interval: 50,
    });

    const again = await verdict(["suspend", ...at(), "--agent", "web-app", "--reason", "loops on refunds", "--for", "1h"]);
    expect(again.stdout).toMatch(/^already suspended: nothing changed: agent web-app/);
  });

  it("lists it, resumes it, and says so when there is nothing to resume", async () => {
    const listed = await verdict(["suspensions", ...at()]);
    expect(listed.code).toBe(0);
    expect(listed.stdout).toMatch(/^s-[0-9a-f]{24} {2}agent web-app until /);

    const resumed = await verdict(["resume", ...at(), "--agent", "web-app", "--reason", "fixed the prompt"]);
    expect(resumed.stdout).toMatch(/^resumed: agent web-app/);
    await vi.waitFor(async () => expect((await check()).decision).toBe("ALLOW"), { timeout: 1_000, interval: 50 });
    expect((await verdict(["resume", ...at(), "--agent", "web-app"])).stdout).toBe("nothing to resume: no suspension in force matches\n");
  });

  it("shows every change in verdict audit query: who, what, why", async () => {
    // The audit trail is written in batches off the request path: asked until it is there.
    await vi.waitFor(
      async () => {
        const run = await verdict(["audit", "query", "--kind", "suspension", "--json"]);
        expect(run.code, run.stderr).toBe(0);
        const events = run.stdout
          .trim()
          .split("\n")
          .filter(Boolean)
          .map((line) => JSON.parse(line) as { action: string; reason?: string; actor: { via: string; api?: string; subject?: string } });
        expect(events.map((e) => [e.action, e.reason, e.actor.via, e.actor.api])).toEqual([
          ["resumed", "fixed the prompt", "grpc", "dev-api"],
          ["suspended", "loops on refunds", "grpc", "dev-api"],
        ]);
        expect(events[1]?.actor.subject).toBe("alice");
      },
      { timeout: 20_000, interval: 500 },
    );
    const table = await verdict(["audit", "query", "--kind", "suspension"]);
    expect(table.stdout.split("\n")[1]).toMatch(
      /EVENT\s+dev-api\s+-\s+web-app\s+by \S+ via grpc\s+resumed\s+suspension\/kind=agent,client_id=web-app\s+fixed the prompt/,
    );
  });

  it("refuses an API without the grant, and a call without a target or with a bad duration, saying why", async () => {
    const mcpKey = readFileSync(devMcpApiKeyPath(home), "utf8").trim();
    const refused = await verdict(["suspensions", "--addr", server.address, "--api-key", mcpKey]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain("may not manage suspensions (it needs the suspensions grant");

    const noTarget = await verdict(["suspend", "--addr", server.address, "--reason", "x"]);
    expect(noTarget.code).toBe(2);
    expect(noTarget.stderr).toContain("name one target");
    const badFor = await verdict(["suspend", "--addr", server.address, "--agent", "a", "--reason", "x", "--for", "soon"]);
    expect(badFor.code).toBe(2);
    expect(badFor.stderr).toContain("--for must be a duration");
    const noReason = await verdict(["suspend", "--addr", server.address, "--agent", "a"]);
    expect(noReason.code).toBe(2);
  });
});

describe("the calling API's key kept off the command line", () => {
  // A shell with no development key to fall back on: the key comes from the flag or from nowhere.
  const bare = { MONGODB_URI: undefined, VERDICT_HOME: mkdtempSync(join(tmpdir(), "verdict-no-key-")) };
  const key = () => readFileSync(devApiKeyPath(home), "utf8").trim();

  it("reads the key from --api-key-file FILE: that key, not the development one", async () => {
    const file = join(bare.VERDICT_HOME, "key.txt");
    writeFileSync(file, `${key()}\n`, { mode: 0o600 });
    const listed = await runVerdict(["suspensions", "--addr", server.address, "--api-key-file", file], bare);
    expect(listed.stderr).toBe("");
    expect(listed.code).toBe(0);
    // The file's key, not the development one: the MCP API's lacks the grant.
    writeFileSync(file, `${readFileSync(devMcpApiKeyPath(home), "utf8").trim()}\n`, { mode: 0o600 });
    const refused = await runVerdict(["suspensions", "--addr", server.address, "--api-key-file", file], bare);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain("may not manage suspensions");
  });

  it("reads the key from standard input with --api-key -", async () => {
    const listed = await runVerdict(["suspensions", "--addr", server.address, "--api-key", "-"], bare, `${key()}\n`);
    expect(listed.stderr).toBe("");
    expect(listed.code).toBe(0);
  });

  it("refuses --api-key with --api-key-file, and an empty or missing key file, as usage errors before calling", async () => {
    const file = join(bare.VERDICT_HOME, "key.txt");
    writeFileSync(file, `${key()}\n`, { mode: 0o600 });
    const both = await runVerdict(["suspensions", "--addr", server.address, "--api-key", key(), "--api-key-file", file], bare);
    expect(both.code).toBe(2);
    expect(both.stderr).toContain("--api-key or --api-key-file, not both");
    const empty = join(bare.VERDICT_HOME, "empty.txt");
    writeFileSync(empty, "\n");
    const none = await runVerdict(["suspensions", "--addr", server.address, "--api-key-file", empty], bare);
    expect(none.code).toBe(2);
    expect(none.stderr).toContain(`secret file ${empty} is empty`);
    const missing = await runVerdict(["suspensions", "--addr", server.address, "--api-key-file", join(bare.VERDICT_HOME, "absent")], bare);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain("ENOENT");
  });
});
