// Mutual TLS through the primary's hand-out: with several processes the primary
// accepts each connection and passes the socket to a process, which does the TLS
// handshake and reads the client's certificate (src/cluster/balancer.ts). Every
// connection, whichever process it lands on, identifies its caller the same way.
import * as grpc from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestCa, type TestCa } from "../support/certs.js";
import { serveVerdict, stopProcess, type ServingVerdict } from "../support/cli.js";
import { writeServeConfig } from "../support/config.js";
import { TestClient } from "../support/grpc.js";
import { createTestIssuer, TEST_AUDIENCE, TEST_SCOPES, type TestIssuer } from "../support/issuer.js";
import { uniqueDatabaseName } from "../support/mongo.js";

let issuer: TestIssuer;
let ca: TestCa;
let serving: ServingVerdict;

beforeAll(async () => {
  issuer = await createTestIssuer();
  ca = createTestCa();
  const server = ca.issue({ cn: "verdict", dnsNames: ["localhost"], ips: ["127.0.0.1"], server: true });
  const config = writeServeConfig("processes-tls", issuer, "unused-key", {
    processes: 2,
    mongodb_database: uniqueDatabaseName("processes_tls"),
    log_level: "info",
    tls: { cert_file: server.certFile, key_file: server.keyFile, client_ca_file: ca.certFile },
    apis: [{ name: "invoices-api", audience: TEST_AUDIENCE, client_certificate: { subject_cn: "invoices-api" }, scopes: [...TEST_SCOPES] }],
  });
  serving = await serveVerdict(["--config", config]);
});

afterAll(async () => {
  if (serving) await stopProcess(serving.child);
});

/** A client on its own connection, with `cert` (or none). */
function client(cert: { certPem: string; keyPem: string } | undefined) {
  const credentials = grpc.credentials.createSsl(Buffer.from(ca.certPem), cert ? Buffer.from(cert.keyPem) : null, cert ? Buffer.from(cert.certPem) : null);
  return new TestClient(serving.address, undefined, credentials, { "grpc.ssl_target_name_override": "localhost", "grpc.use_local_subchannel_pool": 1 });
}

describe("verdict serve with processes: 2 over mutual TLS", () => {
  it("identifies the caller by its certificate on every process's connections", async () => {
    expect(serving.logLines().filter((line) => line["msg"] === "verdict process is serving")).toHaveLength(2);
    // Four connections at once: two on each process.
    const clients = Array.from({ length: 4 }, () => client(ca.issue({ cn: "invoices-api" })));
    try {
      const token = await issuer.token();
      const answers = await Promise.all(clients.map((c) => c.check({ token, action: "invoices:read" })));
      expect(answers.map((answer) => answer.decision)).toEqual(["ALLOW", "ALLOW", "ALLOW", "ALLOW"]);
      const admin = String(serving.logLines().find((line) => line["msg"] === "verdict is serving")?.["admin"]);
      const metrics = await (await fetch(`${admin}/metrics`)).text();
      const open = [...metrics.matchAll(/^verdict_process_grpc_connections\{pid="\d+"\} (\d+)$/gm)].map((match) => Number(match[1]));
      expect(open).toEqual([2, 2]);
    } finally {
      for (const c of clients) c.close();
    }
  });

  it("refuses a certificate registered for no API, and a client without one", async () => {
    const stranger = client(ca.issue({ cn: "stranger" }));
    const none = client(undefined);
    try {
      const token = await issuer.token();
      expect(await stranger.call({ token, action: "invoices:read" })).toMatchObject({ ok: false, code: grpc.status.UNAUTHENTICATED });
      expect((await none.call({ token, action: "invoices:read" })).ok).toBe(false);
    } finally {
      stranger.close();
      none.close();
    }
  });
});
