// node --import tsx bench/connections.ts [options]: one Verdict (a process per core),
// loaded by ghz over 1 connection, then 2 (and any other counts asked for), in an order
// that turns round by round, so that the same machine's noise falls on each
// (docs/performance-history.md "Connections"). Each HTTP/2
// connection is served by one of Verdict's processes: over one, a client keeps one
// process busy whatever its load; this measures what a second connection (the SDK's
// default, `connections` in sdk/README.md) is worth. Each round prints the good
// decisions a second and the CPU Verdict's process tree used per decision. Run
// `npm run build` first.
//
//   node --import tsx bench/connections.ts [--counts 1,2] [--rounds 4] [--concurrency 64] [--duration 8] [--warmup 4]
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { createTestIssuer } from "../test/support/issuer.js";
import { runGhz } from "./ghz.js";
import { treeCpuMs } from "./procfs.js";
import { mintTokens, readRequest } from "./scenarios.js";
import { withVerdictSetup } from "./setup.js";
import { startBenchVerdict } from "./targets/verdict.js";

const { values } = parseArgs({
  options: {
    counts: { type: "string", default: "1,2" },
    rounds: { type: "string", default: "4" },
    concurrency: { type: "string", default: "64" },
    duration: { type: "string", default: "8" },
    warmup: { type: "string", default: "4" },
  },
});

const counts = values.counts.split(",").map(Number);
if (counts.some((n) => !Number.isInteger(n) || n < 1)) {
  console.error("usage: node --import tsx bench/connections.ts [--counts 1,2,...] [--rounds N] [--concurrency N] [--duration S] [--warmup S]");
  process.exit(2);
}

await withVerdictSetup("connections", async (setup) => {
  const tokens = await mintTokens(setup.issuer, await createTestIssuer({ dir: setup.dir }), 3600);
  const dataFile = join(setup.dir, "requests.json");
  writeFileSync(dataFile, JSON.stringify([readRequest(tokens.reader, "connections")]));
  const verdict = await startBenchVerdict(setup, "connections");
  const load = (connections: number, seconds: number, tag: string) =>
    runGhz({
      address: verdict.address,
      call: verdict.call("Check"),
      dataFile,
      load: { kind: "concurrency", concurrency: Number(values.concurrency) },
      durationMs: seconds * 1000,
      connections,
      reportFile: join(setup.dir, `${tag}.json`),
    }).done;
  try {
    await load(2, Number(values.warmup), "warmup");
    for (let round = 1; round <= Number(values.rounds); round++) {
      const shift = (round - 1) % counts.length;
      const order = [...counts.slice(shift), ...counts.slice(0, shift)];
      const figures = new Map<number, string>();
      for (const connections of order) {
        const cpuBefore = treeCpuMs(verdict.process.pid);
        const report = await load(connections, Number(values.duration), `round-${round}-${connections}`);
        const cpuMs = (treeCpuMs(verdict.process.pid) - cpuBefore) / report.ok;
        figures.set(
          connections,
          `${connections} connection${connections === 1 ? "" : "s"}: ${Math.round(report.ok / report.seconds)}/s, ${cpuMs.toFixed(3)} ms CPU`,
        );
      }
      console.log(`round ${round}  ${counts.map((n) => figures.get(n)).join("  |  ")}`);
    }
  } finally {
    await verdict.stop();
  }
});
