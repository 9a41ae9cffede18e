// SIGTERM under load, to a real `verdict serve` process at the defaults a user gets:
// the calls in flight are answered, the ones that arrive after are refused as
// UNAVAILABLE (which the SDK retries elsewhere), every decision given is in the
// audit trail, and the process exits 0.
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as grpc from "@grpc/grpc-js";
import { MongoClient } from "mongodb";
import { describe, expect, inject, it } from "vitest";
import { serveVerdict } from "../support/cli.js";
import { TestClient } from "../support/grpc.js";
import { callersConfig } from "../support/config.js";
import { createTestIssuer } from "../support/issuer.js";
import { mongoUri, uniqueDatabaseName } from "../support/mongo.js";

const API_KEY = "shutdown-key";
const CLIENTS = 16;

interface Call {
  startedAt: number;
  endedAt: number;
  /** The decision id, or the gRPC status name of a call that got none. */
  decisionId?: string;
  status: string;
}

describe("SIGTERM under load", () => {
  it("answers the calls in flight, writes every decision to the audit trail, and exits 0", async () => {
    const issuer = await createTestIssuer();
    const database = uniqueDatabaseName("shutdown");
    const dir = mkdtempSync(join(tmpdir(), "verdict-shutdown-"));
    const config = join(dir, "verdict.json");
    writeFileSync(
      config,
      JSON.stringify({
        listen: "127.0.0.1:0",
        ...callersConfig(issuer, API_KEY),
        bundle: inject("bundlePath"),
        mongodb_uri: mongoUri(),
        mongodb_database: database,
        log_level: "info",
        audit: { spill_dir: join(dir, "spill") },
      }),
    );
    const server = await serveVerdict(["--config", config]);
    const exited = new Promise<number | null>((resolve) => server.child.once("exit", (code) => resolve(code)));
    const client = new TestClient(server.address, API_KEY);

    // clients without pause: reads (no state) and transfers (a reservation each), each client its own user
    const calls: Call[] = [];
    let stopping = false;
    const loop = async (n: number) => {
      const token = await issuer.token({ sub: `shutdown-${n}`, scope: "invoices:read payments:write" });
      for (let i = 0; ; i++) {
        const startedAt = Date.now();
        const transfer = i % 2 === 1;
        const result = await client.call({
          token,
          action: transfer ? "payments:transfer" : "invoices:read",
          resource: transfer ? { type: "account", id: `acc-${n}` } : { type: "invoice", id: `inv-${n}` },
          context: transfer ? { amount: 1 } : {},
        });
        calls.push(
          result.ok
            ? { startedAt, endedAt: Date.now(), decisionId: result.response.decision_id, status: "OK" }
            : { startedAt, endedAt: Date.now(), status: grpc.status[result.code] },
        );
        if (!result.ok && stopping) return; // the server has gone
      }
    };
    const loops = Array.from({ length: CLIENTS }, (_, n) => loop(n));
    while (calls.length < 300) await new Promise((resolve) => setTimeout(resolve, 20));

    const signalledAt = Date.now();
    stopping = true;
    server.child.kill("SIGTERM");
    expect(await exited).toBe(0);
    await Promise.all(loops);
    client.close();

    // every call got a decision, or (arriving after the signal) UNAVAILABLE: nothing cut off half way
    expect(new Set(calls.map((c) => c.status))).toEqual(new Set(["OK", "UNAVAILABLE"]));
    // calls well under way when the signal came were all answered, and some answers came after it
    expect(calls.filter((c) => c.startedAt < signalledAt - 250 && c.status !== "OK")).toEqual([]);
    expect(calls.filter((c) => c.status === "OK" && c.startedAt < signalledAt && c.endedAt > signalledAt).length).toBeGreaterThan(0);

    // every decision given is in the audit trail, written before the process exited
    const decided = calls.filter((c) => c.decisionId !== undefined).map((c) => c.decisionId as string);
    const mongo = new MongoClient(mongoUri(), { serverSelectionTimeoutMS: 10_000 });
    try {
      const stored = await mongo
        .db(database)
        .collection("decisions")
        .find({ _id: { $in: decided as never[] } }, { projection: { _id: 1 } })
        .toArray();
      expect(stored.length).toBe(decided.length);
    } finally {
      await mongo.close();
    }
    const log = server.stderr();
    expect(log).toMatch(/"signal":"SIGTERM".*"msg":"shutting down/);
    expect(log).toMatch(/"lost":0.*"msg":"audit trail closed"/);
    expect(log).toMatch(/"msg":"verdict stopped"/);
  });
});
