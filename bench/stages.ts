// npm run bench:stages -- [--rps 1700] [--seconds 8] [--tokens same|distinct] (scenario (a) or (b)'s requests): where a
// Check's latency goes at a fixed arrival rate (ghz --rps, as the open-loop runs of
// npm run bench), from Verdict's own verdict_stage_duration_seconds histograms read
// from the primary's /metrics before and after the run: for each stage, the share of
// decisions that spent at most 0.5, 1, 5 and 25 ms in it, beside ghz's end-to-end p50/p99.
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { createTestIssuer } from "../test/support/issuer.js";
import { runGhz } from "./ghz.js";
import { mintTokens, readRequest } from "./scenarios.js";
import { withVerdictSetup } from "./setup.js";
import { readyLine, startBenchVerdict } from "./targets/verdict.js";

const { values } = parseArgs({
  options: { rps: { type: "string", default: "1700" }, seconds: { type: "string", default: "8" }, tokens: { type: "string", default: "same" } },
});
const rps = Number(values.rps);
const seconds = Number(values.seconds);
if (!(rps > 0) || !(seconds > 0) || !["same", "distinct"].includes(values.tokens))
  throw new Error("--rps and --seconds are positive numbers, --tokens same or distinct");

const BOUNDS = [0.0005, 0.001, 0.005, 0.025];
type Buckets = Map<string, number>; // `${stage} ${le}` → cumulative count, and `${stage} count`

function stageBuckets(metrics: string): Buckets {
  const out: Buckets = new Map();
  for (const line of metrics.split("\n")) {
    const bucket = /^verdict_stage_duration_seconds_bucket\{le="([^"]+)",stage="([^"]+)"\} (\d+)/.exec(line);
    if (bucket) out.set(`${bucket[2]} ${bucket[1]}`, Number(bucket[3]));
    const count = /^verdict_stage_duration_seconds_count\{stage="([^"]+)"\} (\d+)/.exec(line);
    if (count) out.set(`${count[1]} count`, Number(count[2]));
  }
  return out;
}

await withVerdictSetup("stages", async (setup) => {
  const tokens = await mintTokens(setup.issuer, await createTestIssuer(), 3600);
  const verdict = await startBenchVerdict(setup, "stages", values.tokens === "distinct" ? { token_cache_entries: 500 } : {});
  try {
    const { admin } = readyLine(verdict);
    const dataFile = join(setup.dir, "requests.json");
    const requests = values.tokens === "same" ? [readRequest(tokens.reader, "stages")] : tokens.readers.map((token) => readRequest(token, "stages"));
    writeFileSync(dataFile, JSON.stringify(requests));
    const run = (load: { kind: "concurrency"; concurrency: number } | { kind: "rate"; rps: number }, durationMs: number, report: string) =>
      runGhz({ address: verdict.address, call: verdict.call("Check"), dataFile, load, connections: 4, durationMs, reportFile: join(setup.dir, report) }).done;
    await run({ kind: "concurrency", concurrency: 16 }, 3_000, "warmup.json");
    const before = stageBuckets(await (await fetch(`${admin}/metrics`)).text());
    const report = await run({ kind: "rate", rps }, seconds * 1000, "run.json");
    const after = stageBuckets(await (await fetch(`${admin}/metrics`)).text());
    const delta = (key: string) => (after.get(key) ?? 0) - (before.get(key) ?? 0);
    const stages = [...after.keys()].filter((key) => key.endsWith(" count")).map((key) => key.slice(0, -" count".length));
    console.log(
      `${report.count} Checks at ${rps}/s for ${seconds} s (${report.ok} OK): p50 ${report.latencyMs.p50?.toFixed(2)} ms, p99 ${report.latencyMs.p99?.toFixed(2)} ms end to end\n`,
    );
    console.log(`| stage | decisions | ${BOUNDS.map((b) => `≤ ${b * 1000} ms`).join(" | ")} |`);
    console.log(`|---|---:|${BOUNDS.map(() => "---:").join("|")}|`);
    for (const stage of stages) {
      const count = delta(`${stage} count`);
      if (count === 0) continue;
      const shares = BOUNDS.map((bound) => `${((100 * delta(`${stage} ${bound}`)) / count).toFixed(1)}%`);
      console.log(`| ${stage} | ${count} | ${shares.join(" | ")} |`);
    }
  } finally {
    await verdict.stop();
  }
});
