// The load generator: ghz (github.com/bojand/ghz, pinned in tools/ghz) in its own
// process, one process per stream of requests, its JSON report parsed here.
import { spawn } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { packageRoot } from "../src/paths.js";

export const GHZ_BIN = join(packageRoot, ".tools", "bin", "ghz");

/** How ghz finds the method: the Verdict proto file, or the server's reflection service (Cerbos). */
export interface GhzCall {
  /** package.Service.Method */
  method: string;
  /** A .proto file and its import root; without them ghz asks the server by reflection. */
  proto?: { file: string; importPath: string };
  metadata?: Record<string, string>;
}

/** Closed loop (a fixed number of requests in flight) or open loop (a fixed arrival rate). */
export type Load = { kind: "concurrency"; concurrency: number } | { kind: "rate"; rps: number };

export interface GhzRun {
  address: string;
  call: GhzCall;
  /** A JSON file holding one request, or an array of requests that ghz sends round-robin. */
  dataFile: string;
  load: Load;
  durationMs: number;
  connections: number;
  /** Where ghz writes its JSON report. */
  reportFile: string;
  /** Each call's gRPC deadline (ghz --timeout); ghz's default is 20 s. */
  timeoutMs?: number;
}

export interface GhzReport {
  /** Calls made, whatever their status. */
  count: number;
  /** Calls answered with gRPC OK. */
  ok: number;
  /** Wall time of the run, waiting for the last calls included (s). */
  seconds: number;
  /** gRPC status name → calls. */
  statuses: Record<string, number>;
  /** Error text → calls (the first few kinds). */
  errors: Record<string, number>;
  /** Latency of the OK calls (ms), from ghz's own distribution. */
  latencyMs: { p50: number; p95: number; p99: number };
}

/** Open-loop runs launch each call on its own at the scheduled time (--async); this many workers hand the ticks out. */
const RATE_WORKERS = 16;

export function ghzArgs(run: GhzRun): string[] {
  const concurrency = run.load.kind === "concurrency" ? run.load.concurrency : RATE_WORKERS;
  const args = [
    "--insecure",
    "--call",
    run.call.method,
    "--data-file",
    run.dataFile,
    "--concurrency",
    String(concurrency),
    // ghz gives each connection an equal share of the workers; it needs at least one each.
    "--connections",
    String(Math.min(run.connections, concurrency)),
    "--duration",
    `${Math.round(run.durationMs)}ms`,
    // Calls still in flight when the time is up are waited for and counted, not cancelled.
    "--duration-stop",
    "wait",
    // The data has no template actions: skip ghz's per-call templating.
    "--disable-template-functions",
    "--disable-template-data",
    "--format",
    "json",
    "--output",
    run.reportFile,
  ];
  if (run.call.proto) args.push("--proto", run.call.proto.file, "--import-paths", run.call.proto.importPath);
  if (run.call.metadata) args.push("--metadata", JSON.stringify(run.call.metadata));
  if (run.timeoutMs !== undefined) args.push("--timeout", `${run.timeoutMs}ms`);
  if (run.load.kind === "rate") args.push("--rps", String(Math.max(1, Math.round(run.load.rps))), "--async");
  args.push(run.address);
  return args;
}

/** Starts ghz; resolves with its parsed report when it exits. */
export function runGhz(run: GhzRun): { pid: number; done: Promise<GhzReport> } {
  if (!existsSync(GHZ_BIN)) throw new Error(`${GHZ_BIN} is missing: run npm run tools`);
  const child = spawn(GHZ_BIN, ghzArgs(run), { stdio: ["ignore", "ignore", "pipe"] });
  let stderr = "";
  child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString("utf8")));
  const done = new Promise<GhzReport>((resolve, reject) => {
    child.once("error", reject);
    child.once("exit", (code) => {
      if (code !== 0) {
        reject(new Error(`ghz exited with ${code}: ${stderr.trim().slice(-2000)}`));
        return;
      }
      try {
        resolve(parseReport(readFileSync(run.reportFile, "utf8")));
      } catch (error) {
        reject(error instanceof Error ? error : new Error(String(error)));
      }
    });
  });
  if (child.pid === undefined) throw new Error("ghz could not be started");
  return { pid: child.pid, done };
}

interface RawReport {
  count: number;
  total: number;
  statusCodeDistribution?: Record<string, number>;
  errorDistribution?: Record<string, number>;
  latencyDistribution?: { percentage: number; latency: number }[] | null;
}

export function parseReport(text: string): GhzReport {
  const raw = JSON.parse(text) as RawReport;
  const percentile = (p: number) => {
    const entry = raw.latencyDistribution?.find((d) => d.percentage === p);
    return entry ? entry.latency / 1e6 : NaN; // ns → ms
  };
  const statuses = raw.statusCodeDistribution ?? {};
  return {
    count: raw.count,
    ok: statuses["OK"] ?? 0,
    seconds: raw.total / 1e9,
    statuses,
    errors: Object.fromEntries(Object.entries(raw.errorDistribution ?? {}).slice(0, 5)),
    latencyMs: { p50: percentile(50), p95: percentile(95), p99: percentile(99) },
  };
}

/** The pinned ghz version, from its go.mod. */
export function ghzVersion(): string {
  const gomod = readFileSync(join(packageRoot, "tools", "ghz", "go.mod"), "utf8");
  return /github\.com\/bojand\/ghz (v\S+)/.exec(gomod)?.[1] ?? "unknown";
}
