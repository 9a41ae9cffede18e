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
//   node --import tsx bench/env-ab.ts [--scenario a|e] [--rounds 6] [--concurrency 32] [--duration 8] [--warmup 4] [--node-flag=FLAG ...] [NAME=VALUE ...]
//
// Only the stateless scenarios (a) and (e): the two share one database.
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { createTestIssuer } from "../test/support/issuer.js";
import { runGhz } from "./ghz.js";
import { sampleRss, treeCpuMs } from "./procfs.js";
import { BATCH_ITEMS, batchRequest, mintTokens, readRequest } from "./scenarios.js";
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
const variables = positionals.map((pair) => pair.split(/=(.*)/s).slice(0, 2) as [string, string]);
const nodeFlags = values["node-flag"];
if (variables.length + nodeFlags.length === 0 || variables.some(([name, value]) => !name || value === undefined) || !["a", "e"].includes(values.scenario)) {
  console.error(
    "usage: node --import tsx bench/env-ab.ts [--scenario a|e] [--rounds N] [--concurrency N] [--duration S] [--warmup S] [--node-flag=FLAG ...] [NAME=VALUE ...]",
  );
  process.exit(2);
}
const batch = values.scenario === "e";
const items = batch ? BATCH_ITEMS : 1;
const label = [...nodeFlags, ...variables.map(([name, value]) => `${name}=${value}`)].join(" ");

await withVerdictSetup("env-ab", async (setup) => {
  const tokens = await mintTokens(setup.issuer, await createTestIssuer({ dir: setup.dir }), 3600);
  const dataFile = join(setup.dir, "requests.json");
  writeFileSync(dataFile, JSON.stringify([batch ? batchRequest(tokens.reader, "env-ab") : readRequest(tokens.reader, "env-ab")]));
  // startBenchVerdict passes this process's environment on: each Verdict is started with or without the variables.
  const start = async (name: string, withVariables: boolean): Promise<RunningVerdict> => {
    for (const [variable, value] of variables) {
      if (withVariables) process.env[variable] = value;
      else delete process.env[variable];
    }
    try {
      return await startBenchVerdict(withVariables ? { ...setup, nodeFlags } : setup, name);
    } finally {
      for (const [variable] of variables) delete process.env[variable];
    }
  };
  const servers = [
    { name: "without", verdict: await start("without", false) },
    { name: label, verdict: await start("with", true) },
  ];
  const load = (seconds: number, tag: string) =>
    servers.map(({ verdict }, i) =>
      runGhz({
        address: verdict.address,
        call: verdict.call(batch ? "CheckBatch" : "Check"),
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
    for (const { verdict } of servers) await verdict.stop();
  }
});
