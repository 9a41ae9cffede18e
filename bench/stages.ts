// npm run bench:stages -- [--scenario a|b|c|d] [--rps 1700] [--seconds 8] [--warmup 3]
// [--deadline-ms N]: where a Check's latency goes at a fixed arrival rate (ghz --rps,
// as the open-loop runs of npm run bench), from Verdict's own histograms read from
// the primary's /metrics before and after the run: for the whole Check
// (verdict_check_duration_seconds), each stage (verdict_stage_duration_seconds) and
// each kind of state database call (verdict_database_call_duration_seconds), the
// share that took at most 0.5, 1, 2.5, 5 and 25 ms and 0.25, 1 and 5 s; beside them,
// ghz's end-to-end p50/p99, overall and by gRPC status (how fast a refused call was
// answered). --deadline-ms gives the measured calls a caller's gRPC deadline. The
// scenario's requests and configuration are npm run bench's (scenarios.ts); the
// warm-up (c16, closed loop) is not measured: the database's JVM answers a stateful
// call 2-3 times slower in its first thousands.
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { createTestIssuer } from "../test/support/issuer.js";
import { runGhz } from "./ghz.js";
import { mintTokens, SCENARIOS } from "./scenarios.js";
import { withVerdictSetup } from "./setup.js";
import { readyLine, startBenchVerdict } from "./targets/verdict.js";

/** The scenarios of single Checks (e: a batch, f: a second stream, echo: not Verdict). */
const CHECK_SCENARIOS = ["a", "b", "c", "d"];

const { values } = parseArgs({
  options: {
    scenario: { type: "string", default: "a" },
    rps: { type: "string", default: "1700" },
    seconds: { type: "string", default: "8" },
    warmup: { type: "string", default: "3" },
    "deadline-ms": { type: "string" },
  },
});
const rps = Number(values.rps);
const seconds = Number(values.seconds);
const warmup = Number(values.warmup);
/** The measured calls' gRPC deadline, as a caller's (the SDK's default is 1 s); ghz's own 20 s without it. */
const deadlineMs = values["deadline-ms"] === undefined ? undefined : Number(values["deadline-ms"]);
const scenario = SCENARIOS.find((s) => s.id === values.scenario && CHECK_SCENARIOS.includes(s.id));
if (!(rps > 0) || !(seconds > 0) || !(warmup >= 0) || !scenario || (deadlineMs !== undefined && !(deadlineMs > 0)))
  throw new Error(`--rps, --seconds and --deadline-ms are positive numbers, --warmup a number of seconds, --scenario one of ${CHECK_SCENARIOS.join(", ")}`);

const BOUNDS = [0.0005, 0.001, 0.0025, 0.005, 0.025, 0.25, 1, 5];

/** Histograms read from /metrics: `${metric}\u0000${labels}` → { le → cumulative count, count }. */
type Histograms = Map<string, { buckets: Map<string, number>; count: number }>;

const HISTOGRAMS = [
  { metric: "verdict_check_duration_seconds", label: "method", title: "Check" },
  { metric: "verdict_stage_duration_seconds", label: "stage", title: "stage" },
  { metric: "verdict_database_call_duration_seconds", label: "operation", title: "database call" },
] as const;

function histograms(metrics: string): Histograms {
  const out: Histograms = new Map();
  const entry = (key: string) => out.get(key) ?? out.set(key, { buckets: new Map(), count: 0 }).get(key)!;
  for (const line of metrics.split("\n")) {
    const sample = /^(verdict_[a-z_]+_seconds)_(bucket|count)\{([^}]*)\} (\d+)/.exec(line);
    if (!sample) continue;
    const [, metric, kind, labels, value] = sample as unknown as [string, string, string, string, string];
    const wanted = HISTOGRAMS.find((h) => h.metric === metric);
    if (!wanted) continue;
    const name = new RegExp(`${wanted.label}="([^"]+)"`).exec(labels)?.[1];
    if (name === undefined) continue;
    const histogram = entry(`${metric}\u0000${name}`);
    if (kind === "count") histogram.count = Number(value);
    else {
      const le = /le="([^"]+)"/.exec(labels)?.[1];
      if (le !== undefined) histogram.buckets.set(le, Number(value));
    }
  }
  return out;
}

/** The calls' end-to-end latency by their gRPC status (from ghz's details), e.g. how fast an overloaded call was refused. */
function byStatus(reportJson: string): string {
  const { details } = JSON.parse(reportJson) as { details?: { latency: number; status: string; error: string }[] | null };
  const calls = new Map<string, { ms: number[]; error: string }>();
  for (const { latency, status, error } of details ?? []) (calls.get(status) ?? calls.set(status, { ms: [], error }).get(status)!).ms.push(latency / 1e6);
  const at = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;
  const lines = ["| status | calls | p50 ms | p99 ms | the first one's error |", "|---|---:|---:|---:|---|"];
  for (const [status, { ms, error }] of calls) {
    ms.sort((x, y) => x - y);
    lines.push(`| ${status} | ${ms.length} | ${at(ms, 50).toFixed(2)} | ${at(ms, 99).toFixed(2)} | ${error.slice(0, 120)} |`);
  }
  return `${lines.join("\n")}\n`;
}

await withVerdictSetup("stages", async (setup) => {
  const tokens = await mintTokens(setup.issuer, await createTestIssuer({ dir: setup.dir }), 3600);
  const verdict = await startBenchVerdict(setup, "stages", scenario.verdictConfig);
  try {
    const { admin } = readyLine(verdict);
    const dataFile = join(setup.dir, "requests.json");
    writeFileSync(dataFile, JSON.stringify(scenario.verdict(tokens, "stages")));
    const run = (load: { kind: "concurrency"; concurrency: number } | { kind: "rate"; rps: number }, durationMs: number, report: string, timeoutMs?: number) =>
      runGhz({
        address: verdict.address,
        call: verdict.call("Check"),
        dataFile,
        load,
        connections: 4,
        durationMs,
        reportFile: join(setup.dir, report),
        ...(timeoutMs !== undefined ? { timeoutMs } : {}),
      }).done;
    if (warmup > 0) await run({ kind: "concurrency", concurrency: 16 }, warmup * 1000, "warmup.json");
    const before = histograms(await (await fetch(`${admin}/metrics`)).text());
    const report = await run({ kind: "rate", rps }, seconds * 1000, "run.json", deadlineMs);
    const after = histograms(await (await fetch(`${admin}/metrics`)).text());
    console.log(
      `(${scenario.id}) ${scenario.title}: ${report.count} Checks at ${rps}/s for ${seconds} s${deadlineMs !== undefined ? `, deadline ${deadlineMs} ms` : ""} (${report.ok} OK): ` +
        `p50 ${report.latencyMs.p50?.toFixed(2)} ms, p99 ${report.latencyMs.p99?.toFixed(2)} ms end to end\n`,
    );
    console.log(byStatus(readFileSync(join(setup.dir, "run.json"), "utf8")));
    console.log(`| what | count | ${BOUNDS.map((b) => `≤ ${b * 1000} ms`).join(" | ")} |`);
    console.log(`|---|---:|${BOUNDS.map(() => "---:").join("|")}|`);
    for (const { metric, title } of HISTOGRAMS) {
      for (const [key, now] of after) {
        if (!key.startsWith(`${metric}\u0000`)) continue;
        const then = before.get(key);
        const count = now.count - (then?.count ?? 0);
        if (count === 0) continue;
        const within = (bound: number) => (now.buckets.get(String(bound)) ?? 0) - (then?.buckets.get(String(bound)) ?? 0);
        const shares = BOUNDS.map((bound) => `${((100 * within(bound)) / count).toFixed(1)}%`);
        console.log(`| ${title} ${key.slice(metric.length + 1)} | ${count} | ${shares.join(" | ")} |`);
      }
    }
  } finally {
    await verdict.stop();
  }
});
