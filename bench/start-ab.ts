// node --import tsx bench/start-ab.ts [--rounds N] NAME_A NAME_B ...: two (or more)
// builds of dist/ started in turn, start by start, in one run, so that the noise of a
// shared machine falls on each alike (docs/performance.md "Memory and start"). Each
// build is a copy of dist/ made after `npm run build` into .start-ab/NAME/dist
// (mkdir -p .start-ab/before && cp -a dist .start-ab/before/; git, the linters and
// the formatter leave it alone). It is moved into place as dist/ for its starts and
// back after; dist/ is restored at the end. Prints each build's time from spawn to
// "verdict is serving" and the CPU its whole process tree had used by then.
import { existsSync, renameSync, utimesSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { median } from "./report.js";
import { withVerdictSetup } from "./setup.js";
import { timeStart } from "./targets/verdict.js";

const { values, positionals: names } = parseArgs({ options: { rounds: { type: "string", default: "10" } }, allowPositionals: true });
const builds = names.map((name) => join(".start-ab", name, "dist"));
if (builds.length < 2 || builds.some((build) => !existsSync(build))) {
  console.error("usage: node --import tsx bench/start-ab.ts [--rounds N] NAME_A NAME_B ... (copies of dist/ in .start-ab/NAME/dist)");
  process.exit(2);
}
const rounds = Number(values.rounds);
const PARKED = join(".start-ab", "dist");
const results = new Map(builds.map((build) => [build, { ms: [] as number[], cpu: [] as number[] }]));

// bin/verdict.js runs the bundle when it is at least as new as tsc's output: each build's bundle is made the newer.
for (const build of builds) {
  const now = new Date();
  for (const file of readdirSync(join(build, "bundle"))) utimesSync(join(build, "bundle", file), now, now);
}

let inPlace: string | undefined;
function use(build: string): void {
  if (inPlace === build) return;
  if (inPlace !== undefined) renameSync("dist", inPlace);
  else if (existsSync("dist")) renameSync("dist", PARKED);
  renameSync(build, "dist");
  inPlace = build;
}

try {
  await withVerdictSetup("start-ab", async (setup) => {
    for (let round = 0; round < rounds; round++) {
      for (const build of round % 2 === 0 ? builds : [...builds].reverse()) {
        use(build);
        // A log file of its own: the ready line is looked for in it.
        const { readyMs, cpuMs } = await timeStart(setup, `ab${round}-${builds.indexOf(build)}`);
        const result = results.get(build);
        result?.ms.push(readyMs);
        result?.cpu.push(cpuMs);
      }
    }
  });
} finally {
  if (inPlace !== undefined) renameSync("dist", inPlace);
  if (existsSync(PARKED)) renameSync(PARKED, "dist");
}
const ms = (values: number[]) => values.map(Math.round).join(" ");
for (const [build, { ms: ready, cpu }] of results)
  console.log(
    `${names[builds.indexOf(build)] ?? build}: ready median ${Math.round(median(ready))} ms [${ms(ready)}]; CPU by then median ${Math.round(median(cpu))} ms [${ms(cpu)}]`,
  );
