// npm run bench:console: does the console slow the decision path? One Verdict
// (`verdict serve --config`, console enabled, default configuration otherwise) over a
// trail of --trail records; the client alternates rounds of Checks with the console
// quiet and with --operators live Decisions pages open (each refreshing its list and
// its charts every --poll-ms; the page does it every 5,000 ms), and prints the median
// Check latency of each and their ratio; exits 1 over --max-ratio (default 1.25).
//
//   npm run bench:console -- [--rounds 20] [--requests 200] [--concurrency 4] [--trail 6000] [--operators 5] [--poll-ms 1000] [--max-ratio 1.25] [--processes N] [--json FILE]
//
// The console runs on the admin listener and reads through the trail's indexes with
// limits; what it can still take from decisions is CPU (in the deciding process with
// one process; beside them, on the same cores, with several) and database time, which
// is what this measures (docs/console.md#measured). CPU is Verdict's whole process tree.
import { randomUUID } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { cpus, tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { parseArgs } from "node:util";
import { defaultBundlePath } from "../src/paths.js";
import { consoleToken } from "../test/support/console.js";
import { TestClient, type CheckArgs } from "../test/support/grpc.js";
import { createTestIssuer, TEST_AUDIENCE } from "../test/support/issuer.js";
import { startDatabase } from "./database.js";
import { loadAverage, treeCpuMs } from "./procfs.js";
import { API_NAME, readyLine, startBenchVerdict } from "./targets/verdict.js";

const { values: args } = parseArgs({
  options: {
    rounds: { type: "string", default: "20" },
    requests: { type: "string", default: "200" },
    concurrency: { type: "string", default: "4" },
    trail: { type: "string", default: "6000" },
    operators: { type: "string", default: "5" },
    "poll-ms": { type: "string", default: "1000" },
    "max-ratio": { type: "string", default: "1.25" },
    /** Verdict's `processes` (default: its own default, auto); with more than one, the console has a process of its own. */
    processes: { type: "string" },
    /** Also write the figures as JSON here. */
    json: { type: "string" },
  },
});
const ROUNDS = Number(args.rounds);
const REQUESTS = Number(args.requests);
const CONCURRENCY = Number(args.concurrency);
const TRAIL = Number(args.trail);
const OPERATORS = Number(args.operators);
const POLL_MS = Number(args["poll-ms"]);
const MAX_RATIO = Number(args["max-ratio"]);
const PROCESSES = args.processes === undefined ? undefined : Number(args.processes);

type Mode = "quiet" | "busy";

/** What one run measured (--json). */
export interface ConsoleBenchResult {
  options: { rounds: number; requests: number; concurrency: number; trail: number; operators: number; poll_ms: number; max_ratio: number };
  /** Verdict's deciding processes (its ready line), beside which the console has its own when there are several. */
  processes: number;
  /** Check latency (ms) per mode. */
  latency_ms: Record<Mode, { n: number; p50: number; p90: number; p99: number }>;
  /** Answers other than ALLOW, by outcome ("DENY state_unavailable", ...), per mode. */
  not_allowed: Record<Mode, Record<string, number>>;
  /** Console API requests made while reading, by HTTP status, and their latency (ms). */
  console: { by_status: Record<string, number>; p50_ms: number; p90_ms: number };
  /** How long a round lasted (ms, median): both modes wait out the pages' pauses. */
  round_ms: Record<Mode, number>;
  /** CPU per round (ms) of Verdict's process tree and of the database (null when it is not a local process). */
  cpu_ms_per_round: Record<Mode, { verdict: number; database: number | null }>;
  loadavg_end: [number, number, number];
  cpus: number;
  /** busy median / quiet median */
  ratio: number;
  pass: boolean;
}

function percentile(values: readonly number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))] as number;
}

/** The trail the console reads: records as the writer keeps them, the newest within the hour. */
function trailRecords(count: number, now: number): Record<string, unknown>[] {
  return Array.from({ length: count }, (_, i) => ({
    _id: randomUUID(),
    time: new Date(now - 1_000 - i * 500),
    expires_at: new Date(now + 86_400_000),
    caller: { api: API_NAME, audience: TEST_AUDIENCE },
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
}

async function main(): Promise<number> {
  const dir = mkdtempSync(join(tmpdir(), "verdict-bench-console-"));
  const database = await startDatabase();
  const stops: (() => unknown)[] = [() => database.stop(), () => rmSync(dir, { recursive: true, force: true })];
  try {
    const issuer = await createTestIssuer({ dir });
    const verdict = await startBenchVerdict({ issuer, bundle: defaultBundlePath, mongoUri: database.uri, dir }, "console", {
      console: { enabled: true },
      ...(PROCESSES !== undefined ? { processes: PROCESSES } : {}),
    });
    // Stopped in reverse: Verdict (its trail flushed), then its database dropped.
    stops.push(
      () => database.client.db(verdict.database).dropDatabase(),
      () => verdict.stop(),
    );
    // The admin listener's URL, from the same ready line.
    const { admin, processes } = readyLine(verdict);
    process.stderr.write(
      `bench:console: database ${database.kind}; Verdict (${processes} process${processes > 1 ? "es, and one for the console" : ""}) on ${verdict.address}, console on ${admin}\n`,
    );

    const records = trailRecords(TRAIL, Date.now());
    const decisions = database.client.db(verdict.database).collection("decisions");
    for (let i = 0; i < records.length; i += 1_000) await decisions.insertMany(records.slice(i, i + 1_000));

    const client = new TestClient(verdict.address, verdict.apiKey);
    stops.push(() => client.close());
    // A person's app reading an invoice: no state, no rate limit.
    const request: CheckArgs = {
      token: await issuer.token({ sub: "reader", client_id: "web-app", scope: "invoices:read", exp: Math.floor(Date.now() / 1000) + 7200 }),
      action: "invoices:read",
      resource: { type: "invoice", id: "inv-1" },
    };
    const operator = await consoleToken(issuer, "console:read", { exp: Math.floor(Date.now() / 1000) + 7200 });

    const consoleLatencies: number[] = [];
    const consoleAnswers: Record<string, number> = {};
    // One live Decisions page: its list and its charts, then a pause. With the console
    // quiet the same pauses pass without the requests, so that both modes' rounds last
    // as long and their CPU figures compare (a process uses some CPU when idle too).
    const operatorLoop = async (stop: { done: boolean }, index: number, reading: boolean) => {
      await sleep((POLL_MS / OPERATORS) * index); // the pages are not in step
      while (!stop.done) {
        for (const path of reading ? ["/console/api/decisions?since=24h&limit=50", "/console/api/stats?since=24h"] : []) {
          const started = performance.now();
          const response = await fetch(`${admin}${path}`, { headers: { authorization: `Bearer ${operator}` } });
          await response.arrayBuffer();
          consoleAnswers[response.status] = (consoleAnswers[response.status] ?? 0) + 1;
          consoleLatencies.push(performance.now() - started);
        }
        await sleep(POLL_MS);
      }
    };

    const latencies: Record<Mode, number[]> = { quiet: [], busy: [] };
    const notAllowed: Record<Mode, Record<string, number>> = { quiet: {}, busy: {} };
    const roundMs: Record<Mode, number[]> = { quiet: [], busy: [] };
    const round = async (mode: Mode, record: boolean) => {
      const stop = { done: false };
      const started = performance.now();
      const pages = Promise.all(Array.from({ length: OPERATORS }, (_, i) => operatorLoop(stop, i, mode === "busy")));
      let left = REQUESTS;
      const worker = async () => {
        while (left > 0) {
          left -= 1;
          const started = performance.now();
          const result = await client.call(request);
          const elapsed = performance.now() - started;
          if (!result.ok) throw new Error(`Check failed: ${result.code} ${result.details}`);
          if (!record) continue;
          latencies[mode].push(elapsed);
          const outcome = [result.response.decision, ...result.response.reasons.map((r) => r.code)].join(" ");
          if (outcome !== "ALLOW") notAllowed[mode][outcome] = (notAllowed[mode][outcome] ?? 0) + 1;
        }
      };
      await Promise.all(Array.from({ length: CONCURRENCY }, worker));
      stop.done = true;
      await pages;
      if (record) roundMs[mode].push(performance.now() - started);
    };

    await round("quiet", false);
    await round("busy", false);
    // CPU time (/proc) of Verdict and of the database in each mode's rounds: where the console's cost lands.
    const cpu: Record<Mode, { verdict: number; database: number }> = { quiet: { verdict: 0, database: 0 }, busy: { verdict: 0, database: 0 } };
    const databaseCpu = () => (database.pid ? treeCpuMs(database.pid) : NaN);
    for (let r = 0; r < ROUNDS; r++) {
      for (const mode of r % 2 === 0 ? (["quiet", "busy"] as const) : (["busy", "quiet"] as const)) {
        const before = { verdict: treeCpuMs(verdict.process.pid), database: databaseCpu() };
        await round(mode, true);
        cpu[mode].verdict += treeCpuMs(verdict.process.pid) - before.verdict;
        cpu[mode].database += databaseCpu() - before.database;
      }
      if ((r + 1) % 5 === 0 || r + 1 === ROUNDS) process.stderr.write(`bench:console: round ${r + 1}/${ROUNDS}\n`);
    }

    const ratio = percentile(latencies.busy, 50) / percentile(latencies.quiet, 50);
    const stats = (values: number[]) => ({ n: values.length, p50: percentile(values, 50), p90: percentile(values, 90), p99: percentile(values, 99) });
    const perRound = (mode: Mode) => ({
      verdict: cpu[mode].verdict / ROUNDS,
      database: database.pid ? cpu[mode].database / ROUNDS : null,
    });
    const result: ConsoleBenchResult = {
      processes,
      options: { rounds: ROUNDS, requests: REQUESTS, concurrency: CONCURRENCY, trail: TRAIL, operators: OPERATORS, poll_ms: POLL_MS, max_ratio: MAX_RATIO },
      latency_ms: { quiet: stats(latencies.quiet), busy: stats(latencies.busy) },
      not_allowed: notAllowed,
      console: { by_status: consoleAnswers, p50_ms: percentile(consoleLatencies, 50), p90_ms: percentile(consoleLatencies, 90) },
      round_ms: { quiet: percentile(roundMs.quiet, 50), busy: percentile(roundMs.busy, 50) },
      cpu_ms_per_round: { quiet: perRound("quiet"), busy: perRound("busy") },
      loadavg_end: loadAverage(),
      cpus: cpus().length,
      ratio,
      pass: ratio <= MAX_RATIO,
    };
    if (args.json) writeFileSync(args.json, JSON.stringify(result, null, 2) + "\n");

    const ms = (value: number) => `${value.toFixed(3)} ms`;
    const line = (name: string, mode: Mode) =>
      `  ${name} median ${ms(result.latency_ms[mode].p50)}, p90 ${ms(result.latency_ms[mode].p90)}, p99 ${ms(result.latency_ms[mode].p99)}`;
    const cpuText = (mode: Mode) => result.cpu_ms_per_round[mode].database?.toFixed(0) ?? "n/a";
    process.stdout.write(
      [
        `Check latency with the console quiet and with ${OPERATORS} live Decisions pages refreshing every ${POLL_MS} ms: ${ROUNDS} interleaved rounds of ${REQUESTS} Checks, concurrency ${CONCURRENCY}, over a trail of ${TRAIL} records; ` +
          `Verdict with ${processes} deciding process${processes > 1 ? "es and one for the console" : " (the console in it)"}`,
        line("console quiet:  ", "quiet"),
        line("console reading:", "busy"),
        `  answers other than ALLOW: quiet ${JSON.stringify(notAllowed.quiet)}, reading ${JSON.stringify(notAllowed.busy)}`,
        `  console requests meanwhile: ${consoleLatencies.length} (by status ${JSON.stringify(consoleAnswers)}), median ${ms(result.console.p50_ms)}, p90 ${ms(result.console.p90_ms)}`,
        `  CPU per round (rounds of ${result.round_ms.quiet.toFixed(0)} ms quiet, ${result.round_ms.busy.toFixed(0)} ms reading): Verdict ${result.cpu_ms_per_round.quiet.verdict.toFixed(0)} ms quiet, ${result.cpu_ms_per_round.busy.verdict.toFixed(0)} ms reading; ` +
          `the database ${cpuText("quiet")} ms quiet, ${cpuText("busy")} ms reading${database.pid ? "" : " (not measured: not a local process)"}`,
        `  load average at the end: ${result.loadavg_end.map((l) => l.toFixed(2)).join(" ")} on ${result.cpus} CPUs`,
        `median ratio (reading/quiet) ${ratio.toFixed(3)}: ${result.pass ? "PASS" : "FAIL"} (target <= ${MAX_RATIO.toFixed(2)})`,
      ].join("\n") + "\n",
    );
    return result.pass ? 0 : 1;
  } finally {
    for (const stop of stops.reverse()) {
      try {
        await stop();
      } catch {
        // the others still stop
      }
    }
  }
}

try {
  process.exitCode = await main();
} catch (error) {
  process.stderr.write(`bench:console: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exitCode = 1;
}
