// npm run bench:start -- [--starts N]: how long `verdict serve` takes from spawn to
// "verdict is serving" (the bench's own measure), at the default configuration
// except the bench's issuer, API, bundle and database, N starts in a row; and the
// CPU the whole process tree (primary, processes, their threads) had used by then.
// A start is bound by CPU on two CPUs, so the CPU moves less with the machine's
// noise than the wall time does.
import { parseArgs } from "node:util";
import { median } from "./report.js";
import { withVerdictSetup } from "./setup.js";
import { timeStart } from "./targets/verdict.js";

const { values } = parseArgs({ options: { starts: { type: "string", default: "7" } } });
const starts = Number(values.starts);
await withVerdictSetup("start", async (setup) => {
  const times: number[] = [];
  const cpus: number[] = [];
  for (let i = 0; i < starts; i++) {
    const { readyMs, cpuMs } = await timeStart(setup, `start${i}`);
    times.push(readyMs);
    cpus.push(cpuMs);
  }
  const ms = (n: number) => `${Math.round(n)} ms`;
  console.log(`ready after ${times.map(ms).join(", ")}; median ${ms(median(times))}`);
  console.log(`CPU used by then ${cpus.map(ms).join(", ")}; median ${ms(median(cpus))}`);
});
