// One measured run: ghz (and, for a flood, a second ghz) against one server for a
// fixed time, with the server's and the database's CPU read from /proc before and
// after, the server's memory sampled during it, and, for Verdict, its decisions
// counted by outcome from its audit trail.
import { setTimeout as sleep } from "node:timers/promises";
import type { Db } from "mongodb";
import { runGhz, type GhzCall, type GhzReport, type Load } from "./ghz.js";
import { cpuMsByProcess, loadAverage, reapedChildrenCpuMs, sampleRss, treeCpuMs } from "./procfs.js";
import type { RoundFigures, StreamFigures } from "./types.js";
import { REFUSAL_WINDOW_MS } from "../src/audit/index.js";
import { countDecisions, forgetDecisions } from "./targets/verdict.js";

export interface Stream {
  call: GhzCall;
  dataFile: string;
  load: Load;
  /** Verdict: the request_id every request of this stream carries, to count its decisions. */
  requestId?: string;
}

export interface RunSpec {
  address: string;
  /** The server's process; its tree is measured. */
  serverPid: number;
  databasePid: number | undefined;
  /** Verdict's database, where its audit trail is. */
  auditDb?: Db;
  valid: Stream;
  flood?: Stream;
  items: number;
  durationMs: number;
  connections: number;
  /** Time after ghz ends that still counts (the audit trail's last batch is written then). */
  settleMs: number;
  scratch: string;
  label: string;
}

/** The outcome that counts as good: every valid request in the scenarios is one the policy allows. */
const GOOD = "ALLOW";
/**
 * gRPC statuses that are a PDP's answer to a forged token: Verdict answers OK with a
 * DENY decision; Cerbos refuses the call with INVALID_ARGUMENT ("invalid auxData").
 * Transport failures (UNAVAILABLE, DEADLINE_EXCEEDED, ...) are not answers.
 */
const REFUSALS = ["OK", "InvalidArgument", "Unauthenticated", "PermissionDenied"];

export async function measure(spec: RunSpec, round: number): Promise<RoundFigures> {
  const loadStart = loadAverage();
  const startedAt = new Date().toISOString();
  const cpu0 = { server: treeCpuMs(spec.serverPid), database: spec.databasePid ? treeCpuMs(spec.databasePid) : NaN, loadgen: reapedChildrenCpuMs() };
  const byProcess0 = cpuMsByProcess(spec.serverPid);
  const rss = sampleRss(spec.serverPid);
  const t0 = performance.now();
  const ghz = (stream: Stream, name: string) =>
    runGhz({
      address: spec.address,
      call: stream.call,
      dataFile: stream.dataFile,
      load: stream.load,
      durationMs: spec.durationMs,
      connections: spec.connections,
      reportFile: `${spec.scratch}/${spec.label}-r${round}-${name}.json`,
    }).done;
  let ran;
  try {
    ran = await Promise.all([ghz(spec.valid, "valid"), spec.flood ? ghz(spec.flood, "flood") : Promise.resolve(undefined)]);
  } catch (error) {
    // A load generator that failed ends the bench: the sampler's timer would keep it from exiting.
    rss.stop();
    throw error;
  }
  const [valid, flood] = ran;
  await sleep(spec.settleMs);
  const wallMs = performance.now() - t0;
  const cpu1 = { server: treeCpuMs(spec.serverPid), database: spec.databasePid ? treeCpuMs(spec.databasePid) : NaN, loadgen: reapedChildrenCpuMs() };
  const byProcess1 = cpuMsByProcess(spec.serverPid);
  const peaks = rss.stop();
  const loadEnd = loadAverage();

  const validFigures = await streamFigures(valid, spec.items, spec.auditDb, spec.valid.requestId, "valid");
  const floodFigures = flood && spec.flood ? await streamFigures(flood, 1, spec.auditDb, spec.flood.requestId, "flood") : null;
  const decisions = validFigures.decisions + (floodFigures?.decisions ?? 0);
  const cpu = { server: cpu1.server - cpu0.server, database: spec.databasePid ? cpu1.database - cpu0.database : null, loadgen: cpu1.loadgen - cpu0.loadgen };
  const processes = [...peaks].map(([pid, mb]) => ({ pid, mb: round1(mb) }));
  return {
    round,
    started_at: startedAt,
    target_rps: spec.valid.load.kind === "rate" ? spec.valid.load.rps : null,
    ...validFigures,
    cpu_ms: { server: cpu.server, database: cpu.database, load_generator: cpu.loadgen },
    cpu_ms_per_decision: { server: cpu.server / decisions, database: cpu.database === null ? null : cpu.database / decisions },
    cores: {
      server: cpu.server / wallMs,
      database: cpu.database === null ? null : cpu.database / wallMs,
      load_generator: cpu.loadgen / wallMs,
      server_by_process: [...byProcess1]
        .filter(([pid]) => byProcess0.has(pid))
        .map(([pid, ms]) => ({ pid, cores: round2((ms - byProcess0.get(pid)!) / wallMs) }))
        .sort((a, b) => b.cores - a.cores),
    },
    peak_rss_mb: { max: Math.max(0, ...processes.map((p) => p.mb)), processes },
    loadavg: { start: loadStart, end: loadEnd },
    flood: floodFigures,
  };
}

/**
 * A stream's figures. Valid stream: decisions are the OK calls (× items); good ones are
 * the ALLOWs in Verdict's audit trail (elsewhere every OK call, the probe having shown
 * they allow). Flood stream: every answer is a refusal and counts, except an ALLOW.
 */
async function streamFigures(
  report: GhzReport,
  items: number,
  auditDb: Db | undefined,
  requestId: string | undefined,
  kind: "valid" | "flood",
): Promise<StreamFigures> {
  const answers = kind === "valid" ? ["OK"] : REFUSALS;
  const decisions = answers.reduce((sum, status) => sum + (report.statuses[status] ?? 0), 0) * items;
  let good = decisions;
  let outcomes: Record<string, number> | null = null;
  let unrecorded: number | null = null;
  let records: number | null = null;
  if (auditDb && requestId) {
    // Refused tokens are written per window (REFUSAL_WINDOW_MS): the flood's records come at its end.
    const counted = await countDecisions(auditDb, requestId, decisions, kind === "flood" ? REFUSAL_WINDOW_MS + 2_000 : undefined);
    records = counted.records;
    outcomes = counted.outcomes;
    unrecorded = Math.max(0, decisions - counted.recorded);
    const allowed = counted.outcomes[GOOD] ?? 0;
    good = kind === "valid" ? Math.min(decisions, allowed) : decisions - allowed;
    await forgetDecisions(auditDb, requestId);
  }
  return {
    calls: report.count,
    ok_calls: report.ok,
    statuses: report.statuses,
    errors: report.errors,
    seconds: report.seconds,
    decisions,
    decisions_per_s: decisions / report.seconds,
    good_decisions: good,
    good_decisions_per_s: good / report.seconds,
    outcomes,
    unrecorded,
    records,
    latency_ms: report.latencyMs,
  };
}

const round1 = (n: number) => Math.round(n * 10) / 10;
const round2 = (n: number) => Math.round(n * 100) / 100;
