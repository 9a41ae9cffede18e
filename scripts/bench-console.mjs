#!/usr/bin/env node
// npm run bench:console: does the console slow the decision path? One Verdict
// (`verdict serve --config`, console enabled) over a trail of --trail records;
// the client alternates rounds of Checks with the console quiet and with
// --operators live Decisions pages open (each refreshing its list and its charts,
// over the newest 5,000 records, every --poll-ms: the page does it every 5,000 ms),
// and prints the median Check latency of each and their ratio; exits 1 over
// --max-ratio (default 1.25).
//
//   node scripts/bench-console.mjs [--rounds 20] [--requests 200] [--concurrency 4] [--trail 6000] [--operators 5] [--poll-ms 1000] [--max-ratio 1.25]
//
// The console runs on the admin listener and reads through the trail's indexes with
// limits; what it can still take from decisions is CPU (same process) and database
// time, which is what this measures.
import { spawn } from "node:child_process";
import { createHash, randomBytes, randomUUID } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { cpus, loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { fileURLToPath } from "node:url";
import * as grpc from "@grpc/grpc-js";
import { loadVerdictProto } from "@verdict/sdk/wire";
import { exportJWK, generateKeyPair, SignJWT } from "jose";
import { MongoClient } from "mongodb";

const root = fileURLToPath(new URL("..", import.meta.url)); // the package root, from scripts/
const { values: args } = parseArgs({
  options: {
    rounds: { type: "string", default: "20" },
    requests: { type: "string", default: "200" },
    concurrency: { type: "string", default: "4" },
    trail: { type: "string", default: "6000" },
    operators: { type: "string", default: "5" },
    "poll-ms": { type: "string", default: "1000" },
    "max-ratio": { type: "string", default: "1.25" },
  },
});
const ROUNDS = Number(args.rounds);
const REQUESTS = Number(args.requests);
const CONCURRENCY = Number(args.concurrency);
const TRAIL = Number(args.trail);
const MAX_RATIO = Number(args["max-ratio"]);
const OPERATORS = Number(args.operators);
const POLL_MS = Number(args["poll-ms"]);

const ISSUER = "urn:verdict:bench-issuer";
const AUDIENCE = "https://bench.example";
const CONSOLE_AUDIENCE = "urn:verdict:console";
const API_KEY = `vdk_bench_${randomBytes(16).toString("hex")}`;
const dir = mkdtempSync(join(tmpdir(), "verdict-bench-console-"));
const cleanups = [];

async function main() {
  const mongo = process.env.MONGODB_URI ? { uri: process.env.MONGODB_URI, stop: async () => {} } : await startDatabase();
  cleanups.push(() => mongo.stop());
  const { privateKey, publicKey } = await generateKeyPair("ES256");
  writeFileSync(join(dir, "jwks.json"), JSON.stringify({ keys: [{ ...(await exportJWK(publicKey)), kid: "bench", alg: "ES256", use: "sig" }] }));
  const database = `verdict_bench_console_${randomBytes(4).toString("hex")}`;
  const config = join(dir, "verdict.json");
  writeFileSync(
    config,
    JSON.stringify({
      listen: "127.0.0.1:0",
      admin_listen: "127.0.0.1:0",
      issuers: [{ issuer: ISSUER, jwks_file: join(dir, "jwks.json"), algorithms: ["ES256"] }],
      apis: [{ name: "bench-api", audience: AUDIENCE, key_sha256: createHash("sha256").update(API_KEY).digest("hex"), scopes: ["invoices:read"] }],
      mongodb_uri: mongo.uri,
      mongodb_database: database,
      state_timeout_ms: 1000,
      audit: { spill_dir: join(dir, "spill") },
      console: { enabled: true },
    }),
  );
  const server = await serve(config);
  cleanups.push(() => stopServer(server.child));

  // The trail the console reads: records as the writer keeps them, newest within the hour.
  const db = new MongoClient(mongo.uri);
  const now = Date.now();
  const records = Array.from({ length: TRAIL }, (_, i) => ({
    _id: randomUUID(),
    time: new Date(now - 1_000 - i * 500),
    expires_at: new Date(now + 86_400_000),
    caller: { api: "bench-api", audience: AUDIENCE },
    subject: `user-${i % 200}`,
    client_id: `agent-${i % 20}`,
    actors: [],
    action: "invoices:read",
    decision: i % 5 === 0 ? "DENY" : "ALLOW",
    reasons: i % 5 === 0 ? [{ code: "insufficient_scope", message: "" }] : [],
    obligations: [],
    policy_revision: "bench",
    latency_ms: 1,
    request_id: "",
    token: {},
    dry_run: false,
    resource: { type: "invoice", id: `inv-${i}`, attributes: {} },
    context: {},
  }));
  for (let i = 0; i < records.length; i += 1_000)
    await db
      .db(database)
      .collection("decisions")
      .insertMany(records.slice(i, i + 1_000));
  await db.close();

  const sign = (claims, audience = AUDIENCE) =>
    new SignJWT({ client_id: "web-app", client_type: "web", jti: randomUUID(), ...claims })
      .setProtectedHeader({ alg: "ES256", typ: "at+jwt", kid: "bench" })
      .setIssuer(ISSUER)
      .setAudience(audience)
      .setIssuedAt()
      .setExpirationTime("2h")
      .sign(privateKey);
  const reader = await sign({ sub: "reader", scope: "invoices:read" });
  const operator = await sign({ sub: "ops", client_id: "verdict-console", scope: "console:read" }, CONSOLE_AUDIENCE);

  const { PolicyDecisionService } = loadVerdictProto().verdict.v1;
  const client = new PolicyDecisionService(server.address, grpc.credentials.createInsecure());
  const request = { token: reader, action: "invoices:read", resource: { type: "invoice", id: "inv-1" }, context: {}, request_id: "" };

  const consoleLatencies = [];
  const consoleAnswers = {};
  // One live Decisions page: its list and its charts, then a pause.
  const operatorLoop = async (stop, index) => {
    await sleep((POLL_MS / OPERATORS) * index); // the pages are not in step
    while (!stop.done) {
      for (const path of [`/console/api/decisions?since=24h&limit=50`, `/console/api/stats?since=24h`]) {
        const started = process.hrtime.bigint();
        const response = await fetch(`${server.admin}${path}`, { headers: { authorization: `Bearer ${operator}` } });
        await response.arrayBuffer();
        consoleAnswers[response.status] = (consoleAnswers[response.status] ?? 0) + 1;
        consoleLatencies.push(Number(process.hrtime.bigint() - started) / 1e6);
      }
      await sleep(POLL_MS);
    }
  };
  const consoleLoop = (stop) => Promise.all(Array.from({ length: OPERATORS }, (_, i) => operatorLoop(stop, i)));

  const latencies = { quiet: [], busy: [] };
  // Answers other than ALLOW (a loaded machine can push a policy or a state call past its bound), by mode.
  const refused = { quiet: {}, busy: {} };
  const round = async (mode, record) => {
    const stop = { done: false };
    const reading = mode === "busy" ? consoleLoop(stop) : undefined;
    let left = REQUESTS;
    const worker = async () => {
      while (left > 0) {
        left -= 1;
        const started = process.hrtime.bigint();
        const response = await check(client, request);
        if (!record) continue;
        latencies[mode].push(Number(process.hrtime.bigint() - started) / 1e6);
        if (response.decision !== "ALLOW") {
          const code = response.reasons[0]?.code ?? response.decision;
          refused[mode][code] = (refused[mode][code] ?? 0) + 1;
        }
      }
    };
    await Promise.all(Array.from({ length: CONCURRENCY }, worker));
    stop.done = true;
    await reading;
  };
  await round("quiet", false);
  await round("busy", false);
  // CPU time (Linux /proc) of Verdict and of the database in each mode's rounds: where the console's cost lands.
  const cpu = { quiet: { verdict: 0, database: 0 }, busy: { verdict: 0, database: 0 } };
  for (let r = 0; r < ROUNDS; r++) {
    for (const mode of r % 2 === 0 ? ["quiet", "busy"] : ["busy", "quiet"]) {
      const before = { verdict: cpuMs(server.child.pid), database: cpuMs(mongo.pid) };
      await round(mode, true);
      cpu[mode].verdict += cpuMs(server.child.pid) - before.verdict;
      cpu[mode].database += cpuMs(mongo.pid) - before.database;
    }
    if ((r + 1) % 5 === 0) process.stderr.write(`bench: round ${r + 1}/${ROUNDS}\n`);
  }
  client.close();

  const ratio = percentile(latencies.busy, 50) / percentile(latencies.quiet, 50);
  const fmt = (ms) => `${ms.toFixed(3)} ms`;
  const out = [
    `Check latency with the console quiet and with ${OPERATORS} live Decisions pages refreshing every ${POLL_MS} ms: ${ROUNDS} interleaved rounds of ${REQUESTS} Checks, concurrency ${CONCURRENCY}, over a trail of ${TRAIL} records`,
    `  console quiet:   median ${fmt(percentile(latencies.quiet, 50))}, p90 ${fmt(percentile(latencies.quiet, 90))}, p99 ${fmt(percentile(latencies.quiet, 99))}`,
    `  console reading: median ${fmt(percentile(latencies.busy, 50))}, p90 ${fmt(percentile(latencies.busy, 90))}, p99 ${fmt(percentile(latencies.busy, 99))}`,
    `  answers other than ALLOW: quiet ${JSON.stringify(refused.quiet)}, reading ${JSON.stringify(refused.busy)}`,
    `  console requests meanwhile: ${consoleLatencies.length} (by status ${JSON.stringify(consoleAnswers)}), median ${fmt(percentile(consoleLatencies, 50))}, p90 ${fmt(percentile(consoleLatencies, 90))}`,
    `  CPU per round: Verdict ${(cpu.quiet.verdict / ROUNDS).toFixed(0)} ms quiet, ${(cpu.busy.verdict / ROUNDS).toFixed(0)} ms reading; the database ${(cpu.quiet.database / ROUNDS).toFixed(0)} ms quiet, ${(cpu.busy.database / ROUNDS).toFixed(0)} ms reading${mongo.pid ? "" : " (not measured: MONGODB_URI)"}`,
    `  load average at the end: ${loadavg()
      .map((l) => l.toFixed(2))
      .join(" ")} on ${cpus().length} CPUs`,
    `median ratio (reading/quiet) ${ratio.toFixed(3)}: ${ratio <= MAX_RATIO ? "PASS" : "FAIL"} (target <= ${MAX_RATIO.toFixed(2)})`,
  ];
  process.stdout.write(out.join("\n") + "\n");
  return ratio <= MAX_RATIO ? 0 : 1;
}

function check(client, request) {
  const metadata = new grpc.Metadata();
  metadata.set("x-verdict-api-key", API_KEY);
  return new Promise((resolve, reject) =>
    client.Check(request, metadata, { deadline: Date.now() + 10_000 }, (error, response) => {
      if (error) reject(new Error(`Check failed: ${error.message}`));
      else resolve(response);
    }),
  );
}

function serve(config) {
  const child = spawn(process.execPath, [join(root, "bin", "verdict.js"), "serve", "--config", config], {
    env: { ...process.env, VERDICT_HOME: dir },
    stdio: ["ignore", "ignore", "pipe"],
  });
  let stderr = "";
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`verdict serve did not start:\n${stderr}`)), 60_000);
    const onData = (chunk) => {
      stderr += chunk;
      const match = /"address":"([^"]+)","admin":"([^"]+)".*"msg":"verdict is serving"/.exec(stderr);
      if (match) {
        clearTimeout(timer);
        child.stderr.off("data", onData);
        child.stderr.resume();
        resolve({ child, address: match[1], admin: match[2] });
      }
    };
    child.stderr.on("data", onData);
    child.once("exit", (code) => reject(new Error(`verdict serve exited with ${code}:\n${stderr}`)));
  });
}

function stopServer(child) {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    child.once("exit", resolve);
    child.kill("SIGTERM");
  });
}

function startDatabase() {
  const child = spawn(join(root, ".tools", "bin", "local-mongo"), ["--port", "0", "--exit-with-stdin"], { stdio: ["pipe", "pipe", "inherit"] });
  return new Promise((resolve, reject) => {
    let output = "";
    child.stdout.on("data", (chunk) => {
      output += chunk;
      const match = /local-mongo listening on 127\.0\.0\.1:(\d+)/.exec(output);
      if (match) {
        child.stdout.resume();
        resolve({ uri: `mongodb://127.0.0.1:${match[1]}/?directConnection=true`, pid: child.pid, stop: () => stopServer(child) });
      }
    });
    child.once("exit", (code) => reject(new Error(`local-mongo exited with ${code} (run npm run tools)`)));
  });
}

/** utime + stime of a process in milliseconds, from /proc (NaN where there is none). */
function cpuMs(pid) {
  if (!pid) return NaN;
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1].split(" ");
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100;
  } catch {
    return NaN;
  }
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

function percentile(values, p) {
  const sorted = [...values].sort((a, b) => a - b);
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
}

let code = 1;
try {
  code = await main();
} catch (error) {
  process.stderr.write(`bench: ${error.stack ?? error}\n`);
} finally {
  for (const cleanup of cleanups.reverse()) await cleanup().catch(() => {});
  rmSync(dir, { recursive: true, force: true });
}
process.exit(code);
