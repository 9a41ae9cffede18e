// npm run bench -- [options]: what to run and for how long.
import { join } from "node:path";
import { parseArgs } from "node:util";
import { packageRoot } from "../src/paths.js";
import { SCENARIO_IDS, type ScenarioId } from "./scenarios.js";

export const USAGE = `npm run bench -- [options]

  --quick                 about 10 s a scenario per server: --duration 3 --rounds 1 --warmup 1
  --scenarios a,b,...     which to run, of ${SCENARIO_IDS.join(",")} (default: all)
  --concurrency 16,64     closed-loop runs: calls in flight (default 16,64)
  --no-rate               skip the open-loop runs (ghz --rps at --rate-fraction of each scenario's own maximum)
  --rate-fraction 0.5     the open-loop rate as a fraction of the scenario's highest closed-loop rate
  --rps N                 the open-loop rate in calls/s instead, the same for every server (for A/Bs at one rate)
  --duration 10           seconds per measured run (decimals allowed)
  --rounds 3              measured runs per server and load; the figures are their medians
  --warmup 5              seconds of unmeasured load per server before its scenario's runs
  --connections 4         HTTP/2 connections ghz spreads the calls over
  --no-peer               do not run Cerbos
  --out DIR               where the JSON and markdown go (default bench/results)
  --cpu-prof DIR          run Verdict with node --cpu-prof, a profile per process in DIR (profiling costs CPU: not for the figures)
  --help
`;

export interface BenchOptions {
  scenarios: ScenarioId[];
  concurrency: number[];
  rate: boolean;
  rateFraction: number;
  /** A fixed open-loop rate (calls/s) for every server, instead of rateFraction of each one's maximum. */
  rps: number | undefined;
  durationMs: number;
  rounds: number;
  warmupMs: number;
  connections: number;
  peer: boolean;
  out: string;
  cpuProf: string | undefined;
  help: boolean;
}

export function parseOptions(argv: string[]): BenchOptions {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    options: {
      quick: { type: "boolean", default: false },
      scenarios: { type: "string" },
      concurrency: { type: "string", default: "16,64" },
      "no-rate": { type: "boolean", default: false },
      "rate-fraction": { type: "string", default: "0.5" },
      rps: { type: "string" },
      duration: { type: "string" },
      rounds: { type: "string" },
      warmup: { type: "string" },
      connections: { type: "string", default: "4" },
      "no-peer": { type: "boolean", default: false },
      out: { type: "string", default: join(packageRoot, "bench", "results") },
      "cpu-prof": { type: "string" },
      help: { type: "boolean", default: false },
    },
  });
  const quick = values.quick;
  const positive = (name: string, text: string, integer: boolean): number => {
    const n = Number(text);
    if (!Number.isFinite(n) || n <= 0 || (integer && !Number.isInteger(n)))
      throw new Error(`--${name} must be a positive ${integer ? "integer" : "number"}, not ${text}`);
    return n;
  };
  const scenarios = (values.scenarios ?? SCENARIO_IDS.join(",")).split(",").map((s) => s.trim());
  for (const id of scenarios)
    if (!(SCENARIO_IDS as readonly string[]).includes(id)) throw new Error(`unknown scenario ${id}: choose from ${SCENARIO_IDS.join(",")}`);
  const fraction = Number(values["rate-fraction"]);
  if (!(fraction > 0 && fraction <= 1)) throw new Error(`--rate-fraction must be in (0, 1], not ${values["rate-fraction"]}`);
  return {
    scenarios: scenarios as ScenarioId[],
    concurrency: values.concurrency.split(",").map((c) => positive("concurrency", c.trim(), true)),
    rate: !values["no-rate"],
    rateFraction: fraction,
    rps: values.rps === undefined ? undefined : positive("rps", values.rps, true),
    durationMs: positive("duration", values.duration ?? (quick ? "3" : "10"), false) * 1000,
    rounds: positive("rounds", values.rounds ?? (quick ? "1" : "3"), true),
    warmupMs: values.warmup === "0" ? 0 : positive("warmup", values.warmup ?? (quick ? "1" : "5"), false) * 1000,
    connections: positive("connections", values.connections, true),
    peer: !values["no-peer"],
    out: values.out,
    cpuProf: values["cpu-prof"],
    help: values.help,
  };
}
