// npm run soak [-- --seconds N] [--rate R]: two `verdict serve` processes sharing
// one database, driven for N seconds (600 by default) at a steady R steps a second
// (50 by default, about 60 calls) with a mix of allow, deny, step-up and stateful
// calls (soak/workload.ts), through the SDK, at the defaults a user gets. It ends with the line
//   soak: errors N, rss_start_mb A, rss_end_mb B, db_docs_growth C
// where A and B are the two processes' resident memory together after the warm-up
// and at the end, and C is how many documents the state collections (every
// collection but the audit trail, which keeps one record per decision by design)
// gained after the warm-up. Exits 1 on any error, or on memory growth beyond noise.
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { execFileSync } from "node:child_process";
import { MongoClient } from "mongodb";
import { createVerdictClient, type VerdictClient } from "@verdict/sdk";
import { storageKey } from "../src/contract/index.js";
import { defaultBundlePath } from "../src/paths.js";
import { serveVerdict, stopProcess, type ServingVerdict } from "../test/support/cli.js";
import { callersConfig } from "../test/support/config.js";
import { createTestIssuer } from "../test/support/issuer.js";
import { startTestMongo } from "../test/setup/mongo.js";
import { createWorkload } from "./workload.js";

const { values } = parseArgs({
  options: {
    seconds: { type: "string", default: "600" },
    rate: { type: "string", default: "50" },
    workers: { type: "string", default: "16" },
    bundle: { type: "string", default: defaultBundlePath },
  },
});
const seconds = Number(values.seconds);
const rate = Number(values.rate);
const workers = Number(values.workers);
if (!(seconds > 0) || !(rate > 0) || !(workers > 0)) throw new Error("--seconds, --rate and --workers take positive numbers");
/** The first part of the run is not measured: connection pools, JIT and caches settle. */
const warmupMs = Math.min(30_000, seconds * 100);
/** Resident memory may grow this much (both processes together) before it counts as growth. */
const NOISE = { ratio: 0.2, mb: 24 };

const say = (line: string) => process.stderr.write(`${line}\n`);

/** Resident memory of a process in MB (Linux /proc, else ps). */
function rssMb(pid: number): number {
  try {
    const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
    if (match) return Number(match[1]) / 1024;
  } catch {
    // not Linux: ps below
  }
  return Number(execFileSync("ps", ["-o", "rss=", "-p", String(pid)], { encoding: "utf8" }).trim()) / 1024;
}

async function documentCounts(client: MongoClient, database: string): Promise<Map<string, number>> {
  const db = client.db(database);
  const counts = new Map<string, number>();
  for (const { name } of await db.listCollections({}, { nameOnly: true }).toArray()) counts.set(name, await db.collection(name).countDocuments({}));
  return counts;
}

async function main(): Promise<number> {
  const mongo = await startTestMongo();
  const dir = mkdtempSync(join(tmpdir(), "verdict-soak-"));
  const database = `verdict_soak_${Date.now()}`;
  const apiKey = `soak-${Date.now()}`;
  const issuer = await createTestIssuer();
  const config = join(dir, "verdict.json");
  // the defaults a user gets, but for what a test issuer and API need
  writeFileSync(
    config,
    JSON.stringify({
      listen: "127.0.0.1:0",
      // one process each (processes defaults to one per CPU): the two measured are the ones deciding
      processes: 1,
      ...callersConfig(issuer, apiKey),
      bundle: values.bundle,
      mongodb_uri: mongo.uri,
      mongodb_database: database,
      log_level: "info",
      audit: { spill_dir: join(dir, "spill") },
    }),
  );
  say(`soak: ${seconds} s at ${rate} steps/s over 2 processes (database from ${mongo.kind})`);
  const servers: ServingVerdict[] = [];
  const clients: VerdictClient[] = [];
  const db = new MongoClient(mongo.uri, { serverSelectionTimeoutMS: 10_000 });
  const errors: string[] = [];
  try {
    servers.push(...(await Promise.all([serveVerdict(["--config", config]), serveVerdict(["--config", config])])));
    for (const server of servers) clients.push(createVerdictClient({ address: server.address, credential: { apiKey } }));
    const workload = await createWorkload(issuer, seconds + 600);

    let calls = 0;
    let decisions = 0;
    let callErrors = 0;
    let unreleased = 0;
    let next = 0;
    const started = Date.now();
    const endAt = started + seconds * 1000;
    // each worker paces itself: step k is due at started + k / rate seconds; a worker that falls behind does not burst
    const worker = async () => {
      for (;;) {
        const n = next++;
        const due = started + (n * 1000) / rate;
        if (due >= endAt) return;
        const wait = due - Date.now();
        if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
        const primary = clients[n % 2] as VerdictClient;
        const other = clients[(n + 1) % 2] as VerdictClient;
        const outcome = await workload.step(n, primary, other);
        calls += outcome.calls;
        decisions += outcome.decisions;
        if (outcome.decisions === 0) callErrors += 1;
        unreleased += outcome.held ?? 0;
        errors.push(...outcome.errors);
      }
    };
    const running = Array.from({ length: workers }, worker);

    await new Promise((resolve) => setTimeout(resolve, warmupMs));
    const rssStart = servers.reduce((sum, s) => sum + rssMb(s.child.pid as number), 0);
    const docsStart = await documentCounts(db, database);
    const decisionsAtWarmup = decisions;
    let lastReport = Date.now();
    while (Date.now() < endAt) {
      await new Promise((resolve) => setTimeout(resolve, 1_000));
      if (Date.now() - lastReport >= 60_000) {
        lastReport = Date.now();
        const rss = servers.map((s) => rssMb(s.child.pid as number).toFixed(0)).join(" + ");
        say(`soak: ${Math.round((Date.now() - started) / 1000)} s, ${calls} calls, ${errors.length} errors, rss ${rss} MB`);
      }
    }
    await Promise.all(running);
    const rssEnd = servers.reduce((sum, s) => sum + rssMb(s.child.pid as number), 0);
    const docsEnd = await documentCounts(db, database);

    // stopped as an orchestrator would: SIGTERM, every record written, exit 0
    const warnings = new Map<string, number>();
    for (const [i, server] of servers.entries()) {
      const code = await stopProcess(server.child);
      if (code !== 0) errors.push(`process ${i}: exited ${code} on SIGTERM`);
      for (const line of server.stderr().split("\n")) {
        const entry = /^\{.*"level":(\d+).*"msg":"([^"]*)"/.exec(line);
        if (entry && Number(entry[1]) >= 40) warnings.set(entry[2] as string, (warnings.get(entry[2] as string) ?? 0) + 1);
      }
    }
    for (const [msg, count] of warnings) say(`soak: log warning ×${count}: ${msg}`);
    servers.length = 0;
    const records = await db.db(database).collection("decisions").countDocuments({});
    // a call that failed may or may not have been decided; without such failures the trail must match exactly
    if (callErrors === 0 ? records !== decisions : records < decisions - callErrors) {
      errors.push(`audit: ${records} records for ${decisions} decisions`);
    }

    // every reservation was released (but those whose release failed): the users' daily transfer counters hold nothing else
    const transferKeys = new RegExp(`^${storageKey(["payments:transfer", "daily_per_user"]).replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}/`);
    const counters = await db.db(database).collection("counters").find({ key: transferKeys }).toArray();
    const held = counters.reduce((sum, doc) => sum + Number(doc["total"] ?? 0), 0);
    if (held !== unreleased) {
      errors.push(`budget: ${held} held by the transfer counters, ${unreleased} left unreleased by failed releases`);
      // which decisions still hold budget, and what Verdict answered them (the audit trail)
      const holders = counters.flatMap((doc) => (Array.isArray(doc["ds"]) ? (doc["ds"] as string[]) : []));
      const records = await db
        .db(database)
        .collection("decisions")
        .find({ _id: { $in: holders as never[] } })
        .toArray();
      const answers = new Map<string, number>();
      for (const record of records) {
        const answer = `${String(record["decision"])} ${JSON.stringify(record["reasons"] ?? [])}`.slice(0, 160);
        answers.set(answer, (answers.get(answer) ?? 0) + 1);
      }
      const statuses = new Map<string, number>();
      for (const id of holders)
        statuses.set(workload.releases.get(id) ?? "never released", (statuses.get(workload.releases.get(id) ?? "never released") ?? 0) + 1);
      say(
        `soak: ${holders.length} decisions hold transfer budget; in the trail: ${JSON.stringify([...answers])}; their releases: ${JSON.stringify([...statuses])}`,
      );
    }

    const growth = new Map([...docsEnd].map(([name, count]) => [name, count - (docsStart.get(name) ?? 0)]));
    const stateGrowth = [...growth].filter(([name]) => name !== "decisions").reduce((sum, [, n]) => sum + n, 0);
    const elapsed = (Date.now() - started) / 1000;
    say(
      `soak: ${calls} calls, ${decisions} decisions (${decisions - decisionsAtWarmup} after the warm-up), ${(calls / elapsed).toFixed(0)} calls/s; ` +
        `audit records ${records}; documents gained after the warm-up: ${[...growth].map(([name, n]) => `${name} ${n}`).join(", ")}`,
    );
    const byKind = new Map<string, number>();
    for (const error of errors) byKind.set(error.slice(0, 120), (byKind.get(error.slice(0, 120)) ?? 0) + 1);
    for (const [error, count] of [...byKind].sort((a, b) => b[1] - a[1]).slice(0, 10)) say(`soak: error ×${count}: ${error}`);
    const grew = rssEnd > rssStart * (1 + NOISE.ratio) + NOISE.mb;
    if (grew) say(`soak: resident memory grew beyond noise (${NOISE.ratio * 100}% + ${NOISE.mb} MB)`);
    process.stdout.write(
      `soak: errors ${errors.length}, rss_start_mb ${rssStart.toFixed(0)}, rss_end_mb ${rssEnd.toFixed(0)}, db_docs_growth ${stateGrowth}\n`,
    );
    return errors.length === 0 && !grew ? 0 : 1;
  } finally {
    for (const client of clients) client.close();
    await Promise.all(servers.map((s) => stopProcess(s.child)));
    await db.close();
    await mongo.stop();
  }
}

process.exitCode = await main();
