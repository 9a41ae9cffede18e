// deploy/compose.yaml's Verdict, run here as its containers would run it: the
// certificate made by deploy/make-certs.sh, the development issuer's JWKS, the
// configuration deploy/verdict.yaml (its container paths moved to a temporary
// directory), and the invoices API's demonstration key, over TLS to the name
// "verdict" as the invoices-api service dials it.
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { parse, stringify } from "yaml";
import { createVerdictClient, type VerdictClient } from "@verdict/sdk";
import { DEV_API_AUDIENCE, mintDevToken, writeDevIssuerJwks } from "../../src/dev/index.js";
import { serveVerdict, stopProcess, type ServingVerdict } from "../support/cli.js";
import { hostPort, repo, validateVerdictConfig } from "../support/deploy.js";
import { mongoUri } from "../support/mongo.js";

const dir = mkdtempSync(join(tmpdir(), "verdict-compose-"));
const certs = join(dir, "certs");
const issuerHome = join(dir, "issuer");
let server: ServingVerdict;
let client: VerdictClient;

beforeAll(async () => {
  mkdirSync(certs);
  // The certs service's script, as root in the mongo image; here as this user.
  const made = spawnSync("sh", [repo("deploy", "make-certs.sh"), certs], {
    encoding: "utf8",
    env: { ...process.env, VERDICT_UID: String(process.getuid?.() ?? 0) },
  });
  expect(made.status, made.stderr).toBe(0);
  const jwks = await writeDevIssuerJwks(issuerHome);

  const config = parse(readFileSync(repo("deploy", "verdict.yaml"), "utf8")) as Record<string, unknown> & {
    tls: { cert_file: string; key_file: string };
    issuers: { jwks_file: string }[];
  };
  config["listen"] = "127.0.0.1:0";
  // Where the compose file mounts the certs and issuer volumes, here the temporary copies.
  config.tls = { cert_file: join(certs, "server.crt"), key_file: join(certs, "server.key") };
  config.issuers[0]!.jwks_file = jwks;
  // The image's built-in bundle (the shipped policies), as the test setup built it.
  config["bundle"] = inject("bundlePath");
  validateVerdictConfig(config);
  // The container's 0.0.0.0:9464, here a free loopback port.
  config["admin_listen"] = "127.0.0.1:0";
  const file = join(dir, "verdict.yaml");
  writeFileSync(file, stringify(config));

  server = await serveVerdict(["--config", file], { MONGODB_URI: mongoUri(), VERDICT_HOME: join(dir, "home") });
  client = createVerdictClient({
    address: `127.0.0.1:${hostPort(server.address).port}`,
    tls: { ca: readFileSync(join(certs, "ca.crt")), serverName: "verdict" },
    credential: { apiKey: readFileSync(repo("deploy", "invoices-api.key"), "utf8").trim() },
    deadlineMs: 10_000,
  });
});
afterAll(async () => {
  client?.close();
  if (server) expect(await stopProcess(server.child)).toBe(0);
});

describe("the compose stack's Verdict", () => {
  it("answers the invoices API over TLS for the name verdict, with the demonstration key, for a development token", async () => {
    const token = await mintDevToken(issuerHome, {
      subject: "alice",
      clientId: "agent-1",
      scopes: ["invoices:read"],
      audience: DEV_API_AUDIENCE,
      ttlSeconds: 300,
    });
    const decision = await client.check({ token, action: "invoices:read", resource: { type: "invoice" } });
    expect(decision.decision).toBe("ALLOW");
    expect(decision.principal).toMatchObject({ subject: "alice", clientId: "agent-1" });
  });

  it("refuses another key: the configuration holds only the demonstration key's SHA-256", async () => {
    const other = createVerdictClient({
      address: `127.0.0.1:${hostPort(server.address).port}`,
      tls: { ca: readFileSync(join(certs, "ca.crt")), serverName: "verdict" },
      credential: { apiKey: "vdk_some_other_key" },
      deadlineMs: 10_000,
    });
    try {
      const token = await mintDevToken(issuerHome, {
        subject: "alice",
        clientId: "agent-1",
        scopes: ["invoices:read"],
        audience: DEV_API_AUDIENCE,
        ttlSeconds: 300,
      });
      await expect(other.check({ token, action: "invoices:read", resource: { type: "invoice" } })).rejects.toMatchObject({ code: "verdict_unauthenticated" });
    } finally {
      other.close();
    }
  });
});
