// npm run bench: Verdict's throughput, latency, CPU and memory per decision, scenario
// by scenario, with Cerbos as a peer in the same run and a bare grpc-js server as the
// floor (docs/performance.md). Every server is a real separate process started here
// with its default configuration except what the scenario needs; the database is
// MONGODB_URI or the pinned local-mongo; the load comes from ghz in its own process.
// Writes bench/results/bench-<time>.json and .md (or --out DIR) and prints the table.
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { cpus, loadavg, release, tmpdir, totalmem } from "node:os";
import { join, relative } from "node:path";
import { packageRoot } from "../src/paths.js";
import { createTestIssuer, type TestIssuer } from "../test/support/issuer.js";
import { buildBenchBundle, RAISED_LIMITS } from "./bundle.js";
import { startDatabase, type BenchDatabase } from "./database.js";
import { ghzVersion, type Load } from "./ghz.js";
import { measure, type RunSpec } from "./measure.js";
import { parseOptions, USAGE, type BenchOptions } from "./options.js";
import { conformanceQuestions, probe } from "./probe.js";
import { busyProcessCores, floodRetention, markdown, median, ratioLines, ratios, summarize } from "./report.js";
import { floodRequests, mintTokens, SCENARIOS, type Scenario, type Tokens, type VerdictRequest } from "./scenarios.js";
import { startServers, type Server } from "./servers.js";
import { cerbosVersion } from "./targets/cerbos.js";
import { forgetDecisions, resetState } from "./targets/verdict.js";
import type { BenchResult, LoadName, RoundFigures, RunResult, ScenarioResult } from "./types.js";

interface Variant {
  name: string;
  server: Server;
  flood: boolean;
}

interface Context {
  options: BenchOptions;
  database: BenchDatabase;
  bundle: string;
  issuer: TestIssuer;
  stranger: TestIssuer;
  tokens: Tokens;
  scratch: string;
}

/** Audit records of a run's last calls are written within the trail's flush interval (200 ms). */
const SETTLE_MS = 300;
let runCounter = 0;

async function runScenario(scenario: Scenario, ctx: Context, cleanups: (() => Promise<void>)[]): Promise<ScenarioResult> {
  const { options, tokens } = ctx;
  log(`scenario ${scenario.id}: ${scenario.title}`);
  const started = await startServers(scenario, {
    verdict: { issuer: ctx.issuer, bundle: ctx.bundle, dir: ctx.scratch, ...(options.cpuProf ? { cpuProfDir: options.cpuProf } : {}) },
    database: ctx.database,
    issuer: ctx.issuer,
    tokens,
    peer: options.peer,
  });
  cleanups.push(started.stop);
  const { servers, ready } = started;
  try {
    const firstCerbos = scenario.cerbos?.(tokens)[0];
    const probeResults = await probe(started.probeTargets, {
      verdict: scenario.verdict(tokens, "probe")[0] as VerdictRequest,
      ...(started.probeTargets.cerbos && firstCerbos ? { cerbos: firstCerbos } : {}),
      ...(scenario.flood ? { forged: floodRequests(tokens, "probe")[0] } : {}),
      conformance: started.probeTargets.cerbos ? await conformanceQuestions(ctx.issuer, ctx.stranger) : [],
    });
    const wrong = probeResults.filter((p) => !p.ok);
    if (wrong.length > 0)
      throw new Error(
        `the probe got unexpected answers, so scenario ${scenario.id} is not measured:\n${wrong.map((p) => `  ${p.target}: ${p.check}: expected ${p.expected}, got ${p.actual}`).join("\n")}`,
      );
    for (const server of servers) if (server.auditDb) await forgetDecisions(server.auditDb, "probe");

    const variants: Variant[] = servers.flatMap((server) =>
      scenario.flood
        ? [
            { name: server.target, server, flood: false },
            { name: `${server.target}+flood`, server, flood: true },
          ]
        : [{ name: server.target, server, flood: false }],
    );
    const rounds = new Map<string, RoundFigures[]>();
    const key = (variant: Variant, load: LoadName) => `${variant.name} ${load}`;
    const runOnce = async (variant: Variant, load: Load, loadName: LoadName, round: number, durationMs: number) => {
      const tag = `bench-${scenario.id}-${variant.name}-${loadName}-r${round}-${++runCounter}`.replace(/[^A-Za-z0-9_-]/g, "_");
      const valid = writeData(ctx.scratch, `${tag}-valid`, variant.server.valid(tag));
      const floodStream =
        variant.flood && variant.server.flood
          ? {
              call: variant.server.call,
              dataFile: writeData(ctx.scratch, `${tag}-flood`, variant.server.flood(`${tag}-flood`)),
              load: { kind: "concurrency", concurrency: load.kind === "concurrency" ? load.concurrency : Math.max(...options.concurrency) } as Load,
              requestId: `${tag}-flood`,
            }
          : undefined;
      const spec: RunSpec = {
        address: variant.server.address,
        serverPid: variant.server.pid,
        // Only Verdict uses the database; for the others its figure would be its idle noise.
        databasePid: variant.server.target === "verdict" ? ctx.database.pid : undefined,
        ...(variant.server.auditDb ? { auditDb: variant.server.auditDb } : {}),
        valid: { call: variant.server.call, dataFile: valid, load, requestId: tag },
        ...(floodStream ? { flood: floodStream } : {}),
        items: scenario.items,
        durationMs,
        connections: options.connections,
        settleMs: SETTLE_MS,
        scratch: ctx.scratch,
        label: tag,
      };
      return measure(spec, round);
    };

    if (options.warmupMs > 0) {
      for (const server of servers) {
        log(`  warm-up ${server.target} ${options.warmupMs / 1000} s`);
        await runOnce(
          { name: `${server.target}-warmup`, server, flood: false },
          { kind: "concurrency", concurrency: options.concurrency[0] as number },
          "c0",
          0,
          options.warmupMs,
        );
      }
    }
    // Servers alternate run by run (and the order flips every round) so that the
    // machine's drift falls on all of them alike.
    const measureLoad = async (load: (variant: Variant) => Load, loadName: LoadName) => {
      for (const server of servers) if (server.auditDb) await resetState(server.auditDb);
      for (let round = 1; round <= options.rounds; round++) {
        const order = round % 2 === 1 ? variants : [...variants].reverse();
        for (const variant of order) {
          const figures = await runOnce(variant, load(variant), loadName, round, options.durationMs);
          const list = rounds.get(key(variant, loadName)) ?? [];
          list.push(figures);
          rounds.set(key(variant, loadName), list);
          log(
            `  ${variant.name.padEnd(13)} ${loadName.padEnd(5)} round ${round}: ${Math.round(figures.decisions_per_s)} decisions/s, good ${Math.round(figures.good_decisions_per_s)}, ` +
              `p50 ${figures.latency_ms.p50.toFixed(2)} ms p99 ${figures.latency_ms.p99.toFixed(2)} ms, ${figures.cpu_ms_per_decision.server.toFixed(3)} ms CPU/decision, cores ${processCores(figures)}, load ${figures.loadavg.end[0]?.toFixed(2)}`,
          );
        }
      }
    };
    for (const concurrency of options.concurrency) await measureLoad(() => ({ kind: "concurrency", concurrency }), `c${concurrency}`);
    // Open loop at a fraction of each server's own highest closed-loop call rate (without
    // the flood), or at --rps for every server.
    const rateOf = new Map<string, number>();
    if (options.rate) {
      const best = (variant: Variant) =>
        Math.max(...options.concurrency.map((c) => median((rounds.get(`${variant.server.target} c${c}`) ?? []).map((r) => r.ok_calls / r.seconds))));
      for (const variant of variants) rateOf.set(variant.name, options.rps ?? Math.max(1, Math.round(best(variant) * options.rateFraction)));
      await measureLoad((variant) => ({ kind: "rate", rps: rateOf.get(variant.name) as number }), "rate");
    }

    const runs: RunResult[] = [];
    for (const loadName of [...options.concurrency.map((c) => `c${c}` as LoadName), ...(options.rate ? (["rate"] as LoadName[]) : [])]) {
      for (const variant of variants) {
        const list = rounds.get(key(variant, loadName)) ?? [];
        runs.push({
          variant: variant.name,
          target: variant.server.target,
          load: loadName,
          concurrency: loadName === "rate" ? null : Number(loadName.slice(1)),
          target_rps: loadName === "rate" ? (rateOf.get(variant.name) ?? null) : null,
          rounds: list,
          median: summarize(list),
        });
      }
    }
    return {
      id: scenario.id,
      title: scenario.title,
      what: scenario.what,
      items_per_call: scenario.items,
      verdict_config: scenario.echo ? {} : scenario.verdictConfig,
      ready_ms: ready,
      probe: probeResults,
      runs,
    };
  } finally {
    await started.stop();
  }
}

function writeData(dir: string, name: string, requests: unknown[]): string {
  const path = join(dir, `${name}.json`);
  // ghz sends an array's elements in turn; a single request is sent as it is.
  writeFileSync(path, JSON.stringify(requests.length === 1 ? requests[0] : requests));
  return path;
}

function log(line: string): void {
  process.stderr.write(`bench: ${line}\n`);
}

function git(args: string[]): string {
  const result = spawnSync("git", args, { cwd: packageRoot, encoding: "utf8" });
  return result.status === 0 ? result.stdout.trim() : "";
}

function commandLine(argv: string[]): string {
  const rest = argv.length > 0 ? ` -- ${argv.join(" ")}` : "";
  return process.env["npm_lifecycle_event"] === "bench"
    ? `npm run bench${rest}`
    : `node --import tsx ${relative(process.cwd(), join(packageRoot, "bench", "run.ts")) || "bench/run.ts"}${argv.length ? ` ${argv.join(" ")}` : ""}`;
}

async function main(argv: string[]): Promise<number> {
  let options: BenchOptions;
  try {
    options = parseOptions(argv);
  } catch (error) {
    process.stderr.write(`bench: ${(error as Error).message}\n\n${USAGE}`);
    return 2;
  }
  if (options.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  const startedAt = new Date();
  const loadStart = loadavg();
  // The code measured is the code at the start (the tree may change during a long run).
  const commit = { commit: git(["rev-parse", "HEAD"]), dirty: git(["status", "--porcelain", "--untracked-files=no"]) !== "" };
  const scratch = mkdtempSync(join(tmpdir(), "verdict-bench-"));
  const cleanups: (() => Promise<void>)[] = [];
  const onSignal = () => {
    void Promise.all(cleanups.map((c) => c().catch(() => {}))).finally(() => process.exit(130));
  };
  process.once("SIGINT", onSignal);
  process.once("SIGTERM", onSignal);
  let failed = true;
  let keep = false;
  try {
    log(`building the bench bundle (demo policies, limits raised) with the pinned opa`);
    const bundle = await buildBenchBundle(scratch);
    const database = await startDatabase();
    cleanups.push(() => database.stop());
    log(`database: ${database.kind} at ${database.uri}${database.pid ? ` (pid ${database.pid}, CPU measured)` : " (CPU not measured)"}`);
    const issuer = await createTestIssuer({ dir: scratch });
    const stranger = await createTestIssuer({ dir: scratch });
    // Valid for far longer than any run; minted once, before anything is measured.
    const tokens = await mintTokens(issuer, stranger, 12 * 3600);
    const ctx: Context = { options, database, bundle: bundle.path, issuer, stranger, tokens, scratch };
    const scenarios: ScenarioResult[] = [];
    for (const scenario of SCENARIOS.filter((s) => options.scenarios.includes(s.id))) scenarios.push(await runScenario(scenario, ctx, cleanups));

    const result: BenchResult = {
      schema: 1,
      command: commandLine(argv),
      started_at: startedAt.toISOString(),
      finished_at: new Date().toISOString(),
      git: commit,
      machine: {
        cpus: cpus().length,
        model: cpus()[0]?.model ?? "unknown",
        memory_mb: Math.round(totalmem() / 2 ** 20),
        kernel: release(),
        loadavg_start: loadStart,
        loadavg_end: loadavg(),
      },
      versions: { node: process.version, ghz: ghzVersion(), cerbos: options.peer ? cerbosVersion() : null },
      options: {
        duration_s: options.durationMs / 1000,
        rounds: options.rounds,
        warmup_s: options.warmupMs / 1000,
        concurrency: options.concurrency,
        rate: options.rate,
        rate_fraction: options.rateFraction,
        rps: options.rps ?? null,
        connections: options.connections,
        peer: options.peer,
        scenarios: options.scenarios,
        cpu_prof: options.cpuProf !== undefined,
      },
      database: { kind: database.kind, cpu_measured: database.pid !== undefined },
      bundle: { revision: bundle.revision, raised_limits: RAISED_LIMITS.map(({ path, value }) => ({ path, value })) },
      scenarios,
      ratios: ratios(scenarios),
      flood_retention: floodRetention(scenarios),
    };
    mkdirSync(options.out, { recursive: true });
    const stamp = startedAt.toISOString().replace(/[:.]/g, "-");
    const jsonPath = join(options.out, `bench-${stamp}.json`);
    const mdPath = join(options.out, `bench-${stamp}.md`);
    writeFileSync(jsonPath, JSON.stringify(result, null, 2) + "\n");
    const table = markdown(result);
    writeFileSync(mdPath, table);
    process.stdout.write(table + "\n" + ratioLines(result).join("\n") + "\n");
    log(`wrote ${jsonPath} and ${mdPath}`);
    failed = false;
    // Calls that failed in a round (a server process lost, a deadline) keep the servers' logs for a look.
    keep = scenarios.some((scenario) => scenario.runs.some((run) => run.rounds.some((round) => Object.keys(round.errors).length > 0)));
    if (keep) log(`calls failed in some rounds (the "not good" column): server logs and ghz reports kept in ${scratch}`);
    return 0;
  } catch (error) {
    log(error instanceof Error ? (error.stack ?? error.message) : String(error));
    log(`server logs and ghz reports kept in ${scratch}`);
    return 1;
  } finally {
    for (const cleanup of cleanups.reverse()) await cleanup().catch(() => {});
    if (!failed && !keep) rmSync(scratch, { recursive: true, force: true });
  }
}

process.exitCode = await main(process.argv.slice(2));

/** The server's cores, and each busy process's when there are several (0.85 + 0.37). */
function processCores(figures: RoundFigures): string {
  const busy = busyProcessCores(figures);
  return busy.length < 2 ? figures.cores.server.toFixed(2) : `${figures.cores.server.toFixed(2)} (${busy.map((cores) => cores.toFixed(2)).join(" + ")})`;
}
