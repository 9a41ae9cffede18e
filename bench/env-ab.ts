// node --import tsx bench/env-ab.ts [options] NAME=VALUE ...: two Verdicts of the same
// build at once, one started with NAME=VALUE in its environment (a C library's or
// V8's setting, such as MALLOC_ARENA_MAX=2) or with `--node-flag=FLAG` on node's
// command line (a V8 flag NODE_OPTIONS refuses, such as --no-maglev; the primary
// passes it on to its processes), and one without those variables and flags, loaded
// at the same time by one ghz each with the same calls, so that the noise of a shared
// machine falls on both alike (docs/performance.md "Memory and start"). Each round
// prints, for each, the good decisions a second, the CPU its process tree used per
// decision and its largest process's peak RSS. Run `npm run build` first. The one
// without still gets what the primary sets by default (MALLOC_ARENA_MAX=2, see
// src/cluster): to weigh a default, give the other value (MALLOC_ARENA_MAX=16).
//
//   node --import tsx bench/env-ab.ts [--scenario a|b|e] [--rounds 6] [--concurrency 32] [--duration 8] [--warmup 4] [--node-flag=FLAG ...] [NAME=VALUE ...]
//
// Only the stateless scenarios, (a), (b) and (e), with the bench's requests and
// configuration: the two share one database.
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { createTestIssuer } from "../test/support/issuer.js";
import { runGhz } from "./ghz.js";
import { sampleRss, treeCpuMs } from "./procfs.js";
import { mintTokens, SCENARIOS } from "./scenarios.js";
import { withVerdictSetup } from "./setup.js";
import { startBenchVerdict, type RunningVerdict } from "./targets/verdict.js";

const { values, positionals } = parseArgs({
  options: {
    scenario: { type: "string", default: "a" },
    rounds: { type: "string", default: "6" },
    concurrency: { type: "string", default: "32" },
    duration: { type: "string", default: "8" },
    warmup: { type: "string", default: "4" },
    "node-flag": { type: "string", multiple: true, default: [] },
  },
  allowPositionals: true,
});
/** The scenarios env-ab can drive: the ones without state. */
const STATELESS = ["a", "b", "e"];
const variables = positionals.map((pair) => pair.split(/=(.*)/s).slice(0, 2) as [string, string]);
const nodeFlags = values["node-flag"];
if (variables.length + nodeFlags.length === 0 || variables.some(([name, value]) => !name || value === undefined) || !STATELESS.includes(values.scenario)) {
  console.error(
    "usage: node --import tsx bench/env-ab.ts [--scenario a|b|e] [--rounds N] [--concurrency N] [--duration S] [--warmup S] [--node-flag=FLAG ...] [NAME=VALUE ...]",
  );
  process.exit(2);
}
const scenario = SCENARIOS.find((one) => one.id === values.scenario)!;
const items = scenario.items;
const label = [...nodeFlags, ...variables.map(([name, value]) => `${name}=${value}`)].join(" ");

await withVerdictSetup("env-ab", async (setup) => {
  const tokens = await mintTokens(setup.issuer, await createTestIssuer({ dir: setup.dir }), 3600);
  const dataFile = join(setup.dir, "requests.json");
  writeFileSync(dataFile, JSON.stringify(scenario.verdict(tokens, "env-ab")));
  // startBenchVerdict passes this process's environment on: each Verdict is started with or without the variables.
  const start = async (name: string, withVariables: boolean): Promise<RunningVerdict> => {
    for (const [variable, value] of variables) {
      if (withVariables) process.env[variable] = value;
      else delete process.env[variable];
    }
    try {
      return await startBenchVerdict(withVariables ? { ...setup, nodeFlags } : setup, name, scenario.verdictConfig);
    } finally {
      for (const [variable] of variables) delete process.env[variable];
    }
  };
  // Each one started is stopped at the end, also when the other fails to start.
  const servers: { name: string; verdict: RunningVerdict }[] = [];
  const stopAll = async () => {
    for (const { verdict } of servers) await verdict.stop();
  };
  try {
    servers.push({ name: "without", verdict: await start("without", false) });
    servers.push({ name: label, verdict: await start("with", true) });
  } catch (error) {
    await stopAll();
    throw error;
  }
  const load = (seconds: number, tag: string) =>
    servers.map(({ verdict }, i) =>
      runGhz({
        address: verdict.address,
        call: verdict.call(items > 1 ? "CheckBatch" : "Check"),
        dataFile,
        load: { kind: "concurrency", concurrency: Number(values.concurrency) },
        durationMs: seconds * 1000,
        connections: 4,
        reportFile: join(setup.dir, `${tag}-${i}.json`),
      }),
    );
  try {
    await Promise.all(load(Number(values.warmup), "warmup").map((run) => run.done));
    for (let round = 1; round <= Number(values.rounds); round++) {
      const cpuBefore = servers.map(({ verdict }) => treeCpuMs(verdict.process.pid));
      const rss = servers.map(({ verdict }) => sampleRss(verdict.process.pid));
      const reports = await Promise.all(load(Number(values.duration), `round-${round}`).map((run) => run.done));
      const figures = servers.map(({ name, verdict }, i) => {
        const decisions = reports[i]!.ok * items;
        const cpuMs = (treeCpuMs(verdict.process.pid) - cpuBefore[i]!) / decisions;
        const peak = Math.max(...rss[i]!.stop().values());
        return `${name}: ${Math.round(decisions / reports[i]!.seconds)}/s, ${cpuMs.toFixed(3)} ms CPU, peak ${Math.round(peak)} MB`;
      });
      console.log(`round ${round}  ${figures.join("  |  ")}`);
    }
  } finally {
    await stopAll();
  }
});
