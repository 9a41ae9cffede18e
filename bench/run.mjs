#!/usr/bin/env node
// npm run bench: the median Check latency with the audit trail on and with it off,
// measured side by side in one run. Two real Verdict processes (`verdict serve
// --config`, identical but for audit.enabled) share one MongoDB-wire server
// (MONGODB_URI, else an in-memory local-mongo); the client alternates rounds
// between them (on/off, then off/on, ...) so drift on a shared machine hits both,
// and pauses between rounds so one server's background writes do not land in the
// other's round. Prints both medians and their ratio; exits 1 when the ratio is
// over --max-ratio (default 1.10: audit may add at most 10%).
//
//   node bench/run.mjs [--rounds 30] [--requests 200] [--concurrency 4] [--warmup 2000] [--pause-ms 500] [--max-ratio 1.10]
//
// Many short rounds, each next to one of the other server, because the load of a
// shared machine moves by the second; the warm-up brings both servers and the
// database (a JVM) to steady state first. BENCH_PROFILE=DIR writes a CPU profile
// of each server there.
import { spawn } from "node:child_process";
import { createHash, randomBytes, randomUUID } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { cpus, loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { fileURLToPath } from "node:url";
import * as grpc from "@grpc/grpc-js";
import { loadVerdictProto, toStruct } from "@verdict/sdk/wire";
import { exportJWK, generateKeyPair, SignJWT } from "jose";
import { MongoClient } from "mongodb";

const root = fileURLToPath(new URL("..", import.meta.url));

const { values: args } = parseArgs({
  options: {
    rounds: { type: "string", default: "30" },
    requests: { type: "string", default: "200" },
    concurrency: { type: "string", default: "4" },
    warmup: { type: "string", default: "2000" },
    "max-ratio": { type: "string", default: "1.10" },
    "pause-ms": { type: "string", default: "500" },
  },
});
const ROUNDS = Number(args.rounds);
const REQUESTS = Number(args.requests);
const CONCURRENCY = Number(args.concurrency);
const WARMUP = Number(args.warmup);
const MAX_RATIO = Number(args["max-ratio"]);
const PAUSE_MS = Number(args["pause-ms"]);

const ISSUER = "urn:verdict:bench-issuer";
const AUDIENCE = "https://bench.example";
const API_KEY = `vdk_bench_${randomBytes(16).toString("hex")}`;
const dir = mkdtempSync(join(tmpdir(), "verdict-bench-"));
const cleanups = [];

async function main() {
  const mongo = process.env.MONGODB_URI ? { uri: process.env.MONGODB_URI, pid: undefined, stop: async () => {} } : await startDatabase();
  cleanups.push(() => mongo.stop());
  const { privateKey, publicKey } = await generateKeyPair("ES256");
  const jwk = { ...(await exportJWK(publicKey)), kid: "bench", alg: "ES256", use: "sig" };
  writeFileSync(join(dir, "jwks.json"), JSON.stringify({ keys: [jwk] }));

  const run = randomBytes(4).toString("hex");
  const servers = {};
  for (const mode of ["on", "off"]) {
    const database = `verdict_bench_${run}_${mode}`;
    const config = join(dir, `${mode}.json`);
    writeFileSync(
      config,
      JSON.stringify({
        listen: "127.0.0.1:0",
        admin_listen: "127.0.0.1:0",
        issuers: [{ issuer: ISSUER, jwks_file: join(dir, "jwks.json"), algorithms: ["ES256"] }],
        apis: [{ name: "bench-api", audience: AUDIENCE, key_sha256: createHash("sha256").update(API_KEY).digest("hex"), scopes: ["invoices:read", "payments:write"] }],
        mongodb_uri: mongo.uri,
        mongodb_database: database,
        state_timeout_ms: 1000,
        audit: { enabled: mode === "on", spill_dir: join(dir, `spill-${mode}`) },
      }),
    );
    servers[mode] = { ...(await serve(config)), database, latencies: { read: [], transfer: [] }, order: [], roundLatencies: [], calls: 0 };
    cleanups.push(() => stopServer(servers[mode].child));
  }
  process.stderr.write(`bench: MongoDB ${process.env.MONGODB_URI ? "from MONGODB_URI" : "local-mongo (in memory)"}; servers on ${servers.on.address} (audit on) and ${servers.off.address} (audit off)\n`);

  // Tokens made up front: a distinct user per transfer keeps every one under its daily limit.
  const total = 2 * (WARMUP + ROUNDS * REQUESTS);
  // A human-driven client: the policy library rate-limits AI agents (120 a minute),
  // which would turn this workload into rate_limited answers.
  const sign = (claims) =>
    new SignJWT({ client_id: "web-app", jti: randomUUID(), ...claims })
      .setProtectedHeader({ alg: "ES256", typ: "at+jwt", kid: "bench" })
      .setIssuer(ISSUER)
      .setAudience(AUDIENCE)
      .setIssuedAt()
      .setExpirationTime("2h")
      .sign(privateKey);
  const reader = await sign({ sub: "reader", scope: "invoices:read" });
  const payers = [];
  for (let i = 0; i < Math.ceil(total / 3) + 1; i++) payers.push(await sign({ sub: `payer-${i}`, scope: "payments:write" }));

  // Two thirds reads (no state), one third transfers (a reserve in MongoDB); a
  // context of the size agents send, with fields the default rules mask.
  let sequence = 0;
  const nextRequest = () => {
    const i = sequence++;
    if (i % 3 === 2) {
      return {
        kind: "transfer",
        request: {
          token: payers[Math.floor(i / 3)],
          action: "payments:transfer",
          resource: { type: "account", id: `acc-${i % 50}`, attributes: toStruct({ owner: { email: "owner@example.com" } }) },
          context: toStruct({ amount: 10, currency: "EUR", card_number: "4111 1111 1111 1111", note: "monthly rent", channel: "agent" }),
          request_id: `bench-${i}`,
          approval_id: "",
        },
      };
    }
    return {
      kind: "read",
      request: {
        token: reader,
        action: "invoices:read",
        resource: { type: "invoice", id: `inv-${i % 500}`, attributes: toStruct({ status: "open", customer: { email: "c@example.com" } }) },
        context: toStruct({ view: "detail", page: 1, filters: { year: 2026 } }),
        request_id: `bench-${i}`,
          approval_id: "",
      },
    };
  };

  const { PolicyDecisionService } = loadVerdictProto().verdict.v1;
  for (const server of Object.values(servers)) {
    server.client = new PolicyDecisionService(server.address, grpc.credentials.createInsecure());
  }

  const round = async (server, count, record) => {
    const mark = server.order.length;
    let left = count;
    const worker = async () => {
      while (left > 0) {
        left -= 1;
        const { kind, request } = nextRequest();
        const started = process.hrtime.bigint();
        await check(server.client, request);
        const elapsed = Number(process.hrtime.bigint() - started) / 1e6;
        server.calls += 1;
        if (record) {
          server.latencies[kind].push(elapsed);
          server.order.push(elapsed);
        }
      }
    };
    await Promise.all(Array.from({ length: CONCURRENCY }, worker));
    if (record) server.roundLatencies.push(server.order.slice(mark));
  };

  for (const mode of ["on", "off"]) await round(servers[mode], WARMUP, false);
  await sleep(PAUSE_MS);
  // CPU time (Linux /proc) of the server and of the database, charged to the mode
  // whose round (and the pause after it) it was spent in.
  const cpu = { on: { server: 0, database: 0 }, off: { server: 0, database: 0 } };
  for (let r = 0; r < ROUNDS; r++) {
    for (const mode of r % 2 === 0 ? ["on", "off"] : ["off", "on"]) {
      const before = { server: cpuMs(servers[mode].child.pid), database: cpuMs(mongo.pid) };
      await round(servers[mode], REQUESTS, true);
      await sleep(PAUSE_MS); // let this server's background writes finish outside the other's round
      cpu[mode].server += cpuMs(servers[mode].child.pid) - before.server;
      cpu[mode].database += cpuMs(mongo.pid) - before.database;
    }
    if ((r + 1) % 5 === 0 || r + 1 === ROUNDS) process.stderr.write(`bench: round ${r + 1}/${ROUNDS}\n`);
  }

  for (const server of Object.values(servers)) server.client.close();
  // Stop both (SIGTERM flushes the trail) and check that audit was really on: one record per Check.
  await Promise.all(Object.values(servers).map((server) => stopServer(server.child)));
  const db = new MongoClient(mongo.uri);
  const records = {};
  for (const mode of ["on", "off"]) records[mode] = await db.db(servers[mode].database).collection("decisions").countDocuments();
  await db.close();

  const all = (server) => [...server.latencies.read, ...server.latencies.transfer];
  const rows = [
    ["all Checks", all(servers.on), all(servers.off)],
    ["invoices:read (no state)", servers.on.latencies.read, servers.off.latencies.read],
    ["payments:transfer (reserve)", servers.on.latencies.transfer, servers.off.latencies.transfer],
  ];
  const fmt = (ms) => ms.toFixed(3).padStart(8);
  const out = [];
  out.push(`Check latency, audit on vs off: ${ROUNDS} interleaved rounds of ${REQUESTS} requests per server, concurrency ${CONCURRENCY}, after ${WARMUP} warm-up requests each`);
  out.push("");
  out.push(`${"".padEnd(30)}${"median on".padStart(11)}${"median off".padStart(12)}${"ratio".padStart(8)}${"p90 on".padStart(10)}${"p90 off".padStart(10)}${"p99 on".padStart(10)}${"p99 off".padStart(10)}   n`);
  for (const [name, on, off] of rows) {
    const ratio = percentile(on, 50) / percentile(off, 50);
    out.push(
      `${name.padEnd(30)}${fmt(percentile(on, 50))} ms${fmt(percentile(off, 50))} ms${ratio.toFixed(3).padStart(8)}${fmt(percentile(on, 90))}  ${fmt(percentile(off, 90))}  ${fmt(percentile(on, 99))}  ${fmt(percentile(off, 99))}   ${on.length}/${off.length}`,
    );
  }
  const ratio = percentile(all(servers.on), 50) / percentile(all(servers.off), 50);
  // Round by round (round r of one server next to round r of the other): how much the ratio moves with the machine's load.
  const roundRatios = servers.on.roundLatencies.map((on, r) => percentile(on, 50) / percentile(servers.off.roundLatencies[r], 50));
  out.push("");
  out.push(
    `round by round (each audit-on round against the audit-off round next to it): median ratio ${percentile(roundRatios, 50).toFixed(3)}, ` +
      `quartiles ${percentile(roundRatios, 25).toFixed(3)}-${percentile(roundRatios, 75).toFixed(3)}, range ${Math.min(...roundRatios).toFixed(3)}-${Math.max(...roundRatios).toFixed(3)} (${roundRatios.length} rounds)`,
  );
  out.push(`load average at the end: ${loadavg().map((l) => l.toFixed(2)).join(" ")} on ${cpus().length} CPUs`);
  const measured = ROUNDS * REQUESTS;
  const perCheck = (ms) => (Number.isNaN(ms) ? "n/a" : `${((ms * 1000) / measured).toFixed(0)} µs`);
  out.push(`CPU per Check: Verdict ${perCheck(cpu.on.server)} with audit on, ${perCheck(cpu.off.server)} off; the database ${perCheck(cpu.on.database)} in audit-on rounds, ${perCheck(cpu.off.database)} in audit-off rounds${mongo.pid ? "" : " (not measured: MONGODB_URI)"}`);
  out.push(`audit records written: ${records.on} for ${servers.on.calls} Checks with audit on; ${records.off} with audit off`);
  const recordsOk = records.on === servers.on.calls && records.off === 0;
  const verdict = ratio <= MAX_RATIO && recordsOk;
  out.push(`median ratio (on/off) ${ratio.toFixed(3)}: ${verdict ? "PASS" : "FAIL"} (target <= ${MAX_RATIO.toFixed(2)}${recordsOk ? "" : "; record count does not match"})`);
  process.stdout.write(out.join("\n") + "\n");
  return verdict ? 0 : 1;
}

function check(client, request) {
  const metadata = new grpc.Metadata();
  metadata.set("x-verdict-api-key", API_KEY);
  return new Promise((resolve, reject) =>
    client.Check(request, metadata, { deadline: Date.now() + 10_000 }, (error, response) => {
      if (error) reject(new Error(`Check failed: ${error.message}`));
      else if (response.decision !== "ALLOW") reject(new Error(`unexpected ${response.decision}: ${JSON.stringify(response.reasons)}`));
      else resolve(response);
    }),
  );
}

function serve(config) {
  const child = spawn(process.execPath, [...(process.env.BENCH_PROFILE ? ["--cpu-prof", `--cpu-prof-dir=${process.env.BENCH_PROFILE}`] : []), join(root, "bin", "verdict.js"), "serve", "--config", config], {
    env: { ...process.env, VERDICT_HOME: dir },
    stdio: ["ignore", "ignore", "pipe"],
  });
  let stderr = "";
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`verdict serve did not start:\n${stderr}`)), 60_000);
    const onData = (chunk) => {
      stderr += chunk;
      const match = /"address":"([^"]+)".*"msg":"verdict is serving"/.exec(stderr);
      if (match) {
        clearTimeout(timer);
        child.stderr.off("data", onData);
        child.stderr.resume();
        resolve({ child, address: match[1] });
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

/** utime + stime of a process in milliseconds, from /proc (NaN where there is none). */
function cpuMs(pid) {
  if (!pid) return NaN;
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1].split(" ");
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / CLOCK_TICKS;
  } catch {
    return NaN;
  }
}
const CLOCK_TICKS = 100; // USER_HZ on Linux

/** The pinned local-mongo, in memory, with its pid (for CPU accounting). */
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

function percentile(values, p) {
  const sorted = [...values].sort((a, b) => a - b);
  if (sorted.length === 0) return NaN;
  const index = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[index];
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

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
