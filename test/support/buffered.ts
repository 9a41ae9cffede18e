// A serving `verdict serve` whose last decisions' audit records are still in its processes'
// buffers (written every 200 ms by default): for tests that stop it, or one of its
// processes, at that moment and count what was written.
import { randomUUID } from "node:crypto";
import * as grpc from "@grpc/grpc-js";
import { expect } from "vitest";
import { serveVerdict, type ServingVerdict } from "./cli.js";
import { writeServeConfig } from "./config.js";
import { TestClient } from "./grpc.js";
import type { TestIssuer } from "./issuer.js";
import { connectTestClient, uniqueDatabaseName } from "./mongo.js";

/** What a process of several logs when it stops, and a single process (the primary of several logs this too). */
const STOPPING = {
  several: "stopping this process: finishing calls in flight, then writing every audit record",
  single: "shutting down: no new calls; finishing calls in flight, then writing every audit record",
};

export interface BufferedRecords {
  serving: ServingVerdict;
  /** The serving processes' pids: the one process, or the primary's deciding processes. */
  pids: number[];
  /** How many of the four decisions' records the audit trail holds. */
  records: () => Promise<number>;
  /** Why each serving process that logged its stop stopped, in order. */
  stops: () => unknown[];
}

/**
 * `verdict serve` with `processes` processes, once it has answered four Checks, each on a
 * connection of its own (so the primary of several hands them to every process). `env`
 * goes to the command's environment.
 */
export async function servingWithRecordsBuffered(
  name: string,
  { issuer, apiKey, processes, env = {} }: { issuer: TestIssuer; apiKey: string; processes: number; env?: Record<string, string> },
): Promise<BufferedRecords> {
  const database = uniqueDatabaseName(name.replace(/-/g, "_"));
  const config = writeServeConfig(name, issuer, apiKey, { processes, mongodb_database: database, log_level: "info" });
  const serving = await serveVerdict(["--config", config], env);
  const pids =
    processes === 1
      ? [serving.child.pid as number]
      : serving
          .logLines()
          .filter((line) => line["msg"] === "verdict process is serving")
          .map((line) => Number(line["pid"]));
  expect(pids).toHaveLength(processes);
  const requestId = `${name}-${randomUUID()}`;
  const token = await issuer.token({ sub: "reader" });
  const clients = Array.from(
    { length: 4 },
    () => new TestClient(serving.address, apiKey, grpc.credentials.createInsecure(), { "grpc.use_local_subchannel_pool": 1 }),
  );
  try {
    const answers = await Promise.all(clients.map((c) => c.check({ token, action: "invoices:read", requestId })));
    expect(answers.map((answer) => answer.decision)).toEqual(["ALLOW", "ALLOW", "ALLOW", "ALLOW"]);
  } finally {
    for (const c of clients) c.close();
  }
  // A process of several says why it stops; a single one, as `signal`, what asked.
  const stopping = processes === 1 ? STOPPING.single : STOPPING.several;
  const stops = () =>
    serving
      .logLines()
      .filter((line) => line["msg"] === stopping)
      .map((line) => line["why"] ?? line["signal"]);
  const records = async () => {
    const mongo = await connectTestClient();
    try {
      return await mongo.db(database).collection("decisions").countDocuments({ request_id: requestId });
    } finally {
      await mongo.close();
    }
  };
  return { serving, pids, records, stops };
}
