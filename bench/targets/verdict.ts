// Verdict under test: `node bin/verdict.js serve --config FILE`, a real separate
// process with the default configuration except what a scenario needs (the test
// issuer, one API, the bench bundle, the database, and what the scenario names).
import { randomBytes } from "node:crypto";
import { readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Db } from "mongodb";
import { buildConfig, type ConfigFile } from "../../src/config/index.js";
import { packageRoot } from "../../src/paths.js";
import { hashApiKey } from "../../src/server/index.js";
import { STATE_COLLECTIONS } from "../../src/state/index.js";
import { VERDICT_BIN } from "../../test/support/cli.js";
import { TEST_AUDIENCE, TEST_SCOPES, type TestIssuer } from "../../test/support/issuer.js";
import type { GhzCall } from "../ghz.js";
import { startProcess, type ServerProcess } from "../process.js";
import { treeCpuMs } from "../procfs.js";

export const VERDICT_PROTO = { file: join(packageRoot, "proto", "verdict", "v1", "verdict.proto"), importPath: join(packageRoot, "proto") };
export const API_NAME = "bench-api";

export interface VerdictSetup {
  issuer: TestIssuer;
  bundle: string;
  mongoUri: string;
  /** Scratch directory: configuration, VERDICT_HOME (spill files), logs. */
  dir: string;
  /** Write a CPU profile of each Verdict process here (node --cpu-prof). */
  cpuProfDir?: string;
  /** More flags on node's command line (V8's, such as --no-maglev); the primary passes its own on to its processes. */
  nodeFlags?: readonly string[];
}

export interface RunningVerdict {
  process: ServerProcess;
  address: string;
  apiKey: string;
  database: string;
  /** The configuration file as written, for the report. */
  configFile: ConfigFile;
  call(method: "Check" | "CheckBatch"): GhzCall;
  stop(): Promise<void>;
}

/** Only what the bench needs over the defaults; `overrides` is what the scenario needs. */
export function verdictConfigFile(setup: VerdictSetup, apiKey: string, database: string, overrides: Partial<ConfigFile>): ConfigFile {
  return {
    listen: "127.0.0.1:0",
    // A free admin port: several Verdicts (and their processes) run on one host.
    admin_listen: "127.0.0.1:0",
    issuers: [{ issuer: setup.issuer.issuer, jwks_file: setup.issuer.jwksPath, algorithms: [setup.issuer.alg as "ES256"] }],
    apis: [{ name: API_NAME, audience: TEST_AUDIENCE, key_sha256: hashApiKey(apiKey), scopes: [...TEST_SCOPES] }],
    bundle: setup.bundle,
    mongodb_uri: setup.mongoUri,
    mongodb_database: database,
    ...overrides,
  };
}

/**
 * Refuses to measure anything but the bundle: bin/verdict.js runs dist/main.js when
 * dist/.tsbuildinfo is newer than the bundle, which any tsc run after `npm run build`
 * causes (even `tsc --noEmit` on a changed source rewrites it): a slower start, and
 * dist/ may be older than the sources.
 */
function assertBundleCurrent(): void {
  const built = (path: string) => statSync(join(packageRoot, path), { throwIfNoEntry: false })?.mtimeMs;
  const bundle = built("dist/bundle/verdict.mjs");
  const compiled = built("dist/.tsbuildinfo");
  if (bundle === undefined || (compiled !== undefined && compiled > bundle))
    throw new Error(
      "bench: dist/bundle is missing or older than tsc's output (dist/.tsbuildinfo), so bin/verdict.js would run dist/main.js: run npm run build",
    );
}

export async function startBenchVerdict(setup: VerdictSetup, name: string, overrides: Partial<ConfigFile> = {}): Promise<RunningVerdict> {
  assertBundleCurrent();
  const apiKey = `vdk_bench_${randomBytes(16).toString("hex")}`;
  const database = `verdict_bench_${name.replace(/[^A-Za-z0-9_]/g, "_")}_${randomBytes(3).toString("hex")}`;
  const configFile = verdictConfigFile(setup, apiKey, database, overrides);
  // Refuse a configuration Verdict would refuse, here, with its own message.
  buildConfig(configFile, { baseDir: setup.dir, env: {} });
  const path = join(setup.dir, `verdict-${name}.json`);
  writeFileSync(path, JSON.stringify(configFile, null, 2));
  const env: NodeJS.ProcessEnv = { ...process.env, VERDICT_HOME: join(setup.dir, `home-${name}`) };
  delete env["VERDICT_LOG_LEVEL"]; // the default log level, whatever the caller's shell says
  const server = await startProcess({
    command: process.execPath,
    args: [
      ...(setup.cpuProfDir ? ["--cpu-prof", `--cpu-prof-dir=${setup.cpuProfDir}`] : []),
      ...(setup.nodeFlags ?? []),
      VERDICT_BIN,
      "serve",
      "--config",
      path,
    ],
    env,
    logFile: join(setup.dir, `verdict-${name}.log`),
    readyLine: /"address":"([^"]+)".*"msg":"verdict is serving"/,
  });
  return {
    process: server,
    address: server.ready,
    apiKey,
    database,
    configFile,
    call: (method) => ({ method: `verdict.v1.PolicyDecisionService.${method}`, proto: VERDICT_PROTO, metadata: { "x-verdict-api-key": apiKey } }),
    stop: () => server.stop(),
  };
}

/** One start at the bench's configuration, stopped at once: spawn to "verdict is serving", and the CPU its process tree had used by then. */
export async function timeStart(setup: VerdictSetup, name: string): Promise<{ readyMs: number; cpuMs: number }> {
  const verdict = await startBenchVerdict(setup, name);
  const measured = { readyMs: verdict.process.readyMs, cpuMs: treeCpuMs(verdict.process.pid) };
  await verdict.stop();
  return measured;
}

/** What Verdict's "verdict is serving" line says (its admin listener's URL, how many processes serve), from its log. */
export function readyLine(verdict: RunningVerdict): { admin: string; processes: number } {
  const line = readFileSync(verdict.process.logFile, "utf8")
    .split("\n")
    .find((text) => text.includes('"msg":"verdict is serving"'));
  const ready = line ? (JSON.parse(line) as { admin?: string; processes?: number }) : {};
  if (!ready.admin) throw new Error(`no admin URL in Verdict's ready line:\n${verdict.process.logTail()}`);
  return { admin: ready.admin, processes: ready.processes ?? 1 };
}

/** Outcome ("ALLOW", "DENY state_unavailable", ...) → decisions. */
export type Outcomes = Record<string, number>;

export interface Counted {
  /** Decisions the audit trail holds for the tag (a record of refused tokens stands for `count` of them). */
  recorded: number;
  /** Records (documents) it holds for them. */
  records: number;
  outcomes: Outcomes;
}

/**
 * The decisions Verdict made for one run, by outcome, from its audit trail (every
 * decision is one record, except refused tokens, counted per window in one record
 * with a count; the run's requests carry one request_id). Waits until the trail
 * holds `expected` decisions or stops growing for `quietMs`.
 */
export async function countDecisions(db: Db, requestId: string, expected: number, quietMs = 3_000, maxWaitMs = 60_000): Promise<Counted> {
  const decisions = db.collection("decisions");
  const started = Date.now();
  let last = -1;
  let lastChange = Date.now();
  for (;;) {
    const [sum] = await decisions
      .aggregate<{ n: number }>([{ $match: { request_id: requestId } }, { $group: { _id: null, n: { $sum: { $ifNull: ["$count", 1] } } } }])
      .toArray();
    const recorded = sum?.n ?? 0;
    if (recorded !== last) lastChange = Date.now();
    last = recorded;
    if (recorded >= expected || Date.now() - lastChange >= quietMs || Date.now() - started >= maxWaitMs) break;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  const groups = await decisions
    .aggregate<{ _id: { decision: string; codes: string[] | null }; n: number; docs: number }>([
      { $match: { request_id: requestId } },
      { $group: { _id: { decision: "$decision", codes: "$reasons.code" }, n: { $sum: { $ifNull: ["$count", 1] } }, docs: { $sum: 1 } } },
    ])
    .toArray();
  const outcomes: Outcomes = {};
  let recorded = 0;
  let records = 0;
  for (const group of groups) {
    const codes = group._id.codes ?? [];
    const key = [group._id.decision, ...codes].join(" ");
    outcomes[key] = (outcomes[key] ?? 0) + group.n;
    recorded += group.n;
    records += group.docs;
  }
  return { recorded, records, outcomes };
}

/** Forgets a run's records, so the in-memory database does not grow over a long bench. */
export async function forgetDecisions(db: Db, requestId: string): Promise<void> {
  await db.collection("decisions").deleteMany({ request_id: requestId });
}

/**
 * Empties Verdict's real-time state (counters, single-use keys, the release ledger)
 * between loads. A counter keeps one entry per reservation until it is pruned, so
 * without this each load would start where the previous one left its documents.
 */
export async function resetState(db: Db): Promise<void> {
  for (const name of STATE_COLLECTIONS) await db.collection(name).deleteMany({});
}
