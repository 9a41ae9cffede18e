// The examples as people run them: `verdict serve --config` on a copy of
// examples/authzen-certification (its own ports set to 0, its own database),
// which creates a development certificate on first start and loads its dataset
// itself; and `verdict directory load`.
import { cpSync, existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { createServer, type AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AuthzenClient, CERTIFICATION_DIR, exampleBundle } from "../support/authzen.js";
import { runVerdict, serveVerdict, stopProcess, type ServingVerdict } from "../support/cli.js";
import { mongoUri, uniqueDatabaseName } from "../support/mongo.js";

const home = mkdtempSync(join(tmpdir(), "verdict-authzen-home-"));
const example = mkdtempSync(join(tmpdir(), "verdict-authzen-example-"));
const env = { VERDICT_HOME: home, MONGODB_URI: mongoUri(), VERDICT_LOG_LEVEL: "info" };
const config = JSON.parse(readFileSync(join(CERTIFICATION_DIR, "verdict.json"), "utf8")) as {
  authzen: { dev_api_key: string; listen: string };
  listen: string;
  mongodb_database: string;
};
const key = config.authzen.dev_api_key;
const alice = { subject: { type: "user", id: "alice" }, action: { name: "read" }, resource: { type: "record", id: "record-1" } };

let serving: ServingVerdict | undefined;

beforeAll(async () => {
  cpSync(CERTIFICATION_DIR, example, { recursive: true, filter: (path) => !path.includes(`${join(CERTIFICATION_DIR, "build")}`) });
  cpSync(await exampleBundle(CERTIFICATION_DIR), join(example, "build", "bundle.tar.gz"));
  // The example as shipped, but on ports the shared test machine has free and a database of its own.
  writeFileSync(
    join(example, "verdict.json"),
    JSON.stringify({
      ...config,
      listen: "127.0.0.1:0",
      mongodb_database: uniqueDatabaseName("authzen_cli"),
      authzen: { ...config.authzen, listen: "127.0.0.1:0" },
    }),
  );
});
afterAll(async () => {
  if (serving) await stopProcess(serving.child);
});

const authzenUrl = (stderr: string) => /"authzen":"(https:\/\/127\.0\.0\.1:\d+)"/.exec(stderr)?.[1] as string;

describe("verdict serve --config examples/authzen-certification/verdict.json", () => {
  let firstCert: string;

  it("serves AuthZEN over HTTPS with a development certificate created on first start, and the dataset loaded", async () => {
    serving = await serveVerdict(["--config", join(example, "verdict.json")], env);
    const log = serving.stderr();
    expect(log).toMatch(/\[DEV CERTIFICATE\].*"created":true|"created":true.*\[DEV CERTIFICATE\]/);
    expect(log).toContain("[INSECURE CONFIG] authzen.dev_api_key");
    expect(log).toContain("[INSECURE CONFIG] authzen trust_asserted_subjects");
    const certFile = join(home, "authzen-dev-tls", "cert.pem");
    expect(existsSync(certFile)).toBe(true);
    firstCert = readFileSync(certFile, "utf8");
    const pdp = new AuthzenClient(authzenUrl(log), { ca: firstCert, apiKey: key });
    expect((await pdp.post("/access/v1/evaluation", alice)).json).toEqual({ decision: true });
    // bob's stored role comes from the dataset: S4 needs it.
    const s4 = await pdp.post("/access/v1/search/subject", {
      subject: { type: "user" },
      action: { name: "write" },
      resource: { type: "record", id: "record-2", properties: { status: "archived" } },
    });
    expect(s4.json.results).toEqual([{ type: "user", id: "bob" }]);
  });

  it("verdict directory load adds entities the running server decides with", async () => {
    const file = join(example, "more.json");
    writeFileSync(file, JSON.stringify({ subjects: [{ type: "user", id: "carol", properties: {} }] }));
    const run = await runVerdict(["directory", "load", file, "--config", join(example, "verdict.json")], env);
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/^loaded 1 subjects, 0 resources, 0 actions/);
    const pdp = new AuthzenClient(authzenUrl(serving?.stderr() ?? ""), { ca: firstCert, apiKey: key });
    expect((await pdp.post("/access/v1/evaluation", { ...alice, subject: { type: "user", id: "carol" } })).json).toEqual({ decision: true });
  });

  it("stops on SIGTERM, and reuses its certificate on the next start", async () => {
    expect(await stopProcess((serving as ServingVerdict).child)).toBe(0);
    serving = await serveVerdict(["--config", join(example, "verdict.json")], env);
    expect(serving.stderr()).toContain('"created":false');
    expect(readFileSync(join(home, "authzen-dev-tls", "cert.pem"), "utf8")).toBe(firstCert);
    const pdp = new AuthzenClient(authzenUrl(serving.stderr()), { ca: firstCert, apiKey: key });
    expect((await pdp.post("/access/v1/evaluation", alice)).json).toEqual({ decision: true });
  });
});

describe("verdict directory load", () => {
  it("refuses a file that does not fit, saying why, and writes nothing", async () => {
    const file = join(example, "bad.json");
    writeFileSync(
      file,
      JSON.stringify({
        subjects: [
          { type: "user", id: "dave" },
          { type: "user", id: "dave" },
        ],
      }),
    );
    const run = await runVerdict(["directory", "load", file, "--config", join(example, "verdict.json")], env);
    expect(run.code).toBe(1);
    expect(run.stderr).toContain("subject user/dave is listed twice");
    const pdp = new AuthzenClient(authzenUrl(serving?.stderr() ?? ""), { ca: readFileSync(join(home, "authzen-dev-tls", "cert.pem"), "utf8"), apiKey: key });
    expect((await pdp.post("/access/v1/evaluation", { ...alice, subject: { type: "user", id: "dave" } })).json.decision).toBe(false);
  });

  it("needs exactly one file and a valid --ttl", async () => {
    expect((await runVerdict(["directory", "load"], env)).code).toBe(2);
    expect((await runVerdict(["directory", "load", "a.json", "--ttl", "soon"], env)).stderr).toContain("--ttl must be a duration");
  });
});

describe("an AuthZEN listener without TLS", () => {
  it("is refused at start unless insecure_plaintext says so", async () => {
    const plain = join(example, "plain.json");
    writeFileSync(
      plain,
      JSON.stringify({
        ...config,
        listen: "127.0.0.1:0",
        authzen: { apis: [{ name: "certification-harness", trust_asserted_subjects: true }], listen: "127.0.0.1:0" },
      }),
    );
    const run = await runVerdict(["serve", "--config", plain], env);
    expect(run.code).toBe(1);
    expect(run.stderr).toContain("plain HTTP needs insecure_plaintext: true");
  });
});

describe("an AuthZEN listener on a port another program holds", () => {
  it("stops the start, saying the address is in use, and exits 1", async () => {
    const holder = createServer();
    await new Promise<void>((resolve) => holder.listen(0, "127.0.0.1", resolve));
    const { port } = holder.address() as AddressInfo;
    try {
      const taken = join(example, "taken.json");
      writeFileSync(
        taken,
        JSON.stringify({
          ...config,
          listen: "127.0.0.1:0",
          admin_listen: "127.0.0.1:0",
          mongodb_database: uniqueDatabaseName("authzen_taken"),
          authzen: { ...config.authzen, listen: `127.0.0.1:${port}` },
        }),
      );
      const run = await runVerdict(["serve", "--config", taken], env);
      expect(run.code).toBe(1);
      expect(run.stderr).toContain(`cannot listen on 127.0.0.1:${port} (AuthZEN): the address is already in use`);
      // The process that could not start exits with its own code (it used to stay, held by its channel to the primary).
      expect(run.stderr).toContain("a Verdict process did not start (exit 1)");
    } finally {
      await new Promise((resolve) => holder.close(resolve));
    }
  });
});
