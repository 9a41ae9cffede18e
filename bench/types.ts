// The shape of the bench's JSON output (bench/results/bench-*.json). The smoke test
// reads it with these types; the markdown table is rendered from it.

export type TargetName = "verdict" | "cerbos" | "echo";
/** c16, c64 (calls in flight) or "rate" (open loop at a fraction of the scenario's own maximum). */
export type LoadName = `c${number}` | "rate";

export interface Percentiles {
  p50: number;
  p95: number;
  p99: number;
}

/** One ghz run against one server. */
export interface StreamFigures {
  calls: number;
  ok_calls: number;
  /** gRPC status → calls. */
  statuses: Record<string, number>;
  /** The first kinds of errors ghz saw, with counts. */
  errors: Record<string, number>;
  seconds: number;
  /** ok_calls × decisions per call. */
  decisions: number;
  decisions_per_s: number;
  /** Decisions that are the policy's answer (ALLOW here), not a fail-closed refusal. */
  good_decisions: number;
  good_decisions_per_s: number;
  /** Verdict: outcome ("ALLOW", "DENY state_unavailable", ...) → decisions, from its audit trail. Null where not counted. */
  outcomes: Record<string, number> | null;
  /** Verdict: answered decisions its audit trail does not hold (counted as not good). */
  unrecorded: number | null;
  /** Verdict: the audit records (documents) holding them: fewer than decisions where refused tokens are counted per record. */
  records?: number | null;
  latency_ms: Percentiles;
}

export interface RoundFigures extends StreamFigures {
  round: number;
  started_at: string;
  /** The open-loop rate asked of ghz (calls/s), for "rate" runs. */
  target_rps: number | null;
  cpu_ms: { server: number; database: number | null; load_generator: number };
  /** Server CPU over every decision it made in the run (valid and flood). */
  cpu_ms_per_decision: { server: number; database: number | null };
  /** CPU time over wall time: how many cores each kept busy; the server's also by process, busiest first. */
  cores: { server: number; database: number | null; load_generator: number; server_by_process?: { pid: number; cores: number }[] };
  /** Peak resident memory of each process of the server's tree, sampled every 100 ms. */
  peak_rss_mb: { max: number; processes: { pid: number; mb: number }[] };
  loadavg: { start: number[]; end: number[] };
  /** The invalid-token stream of a flood run. */
  flood: StreamFigures | null;
}

/** Medians over the rounds (peak RSS: the highest). */
export interface Summary {
  decisions_per_s: number;
  good_decisions_per_s: number;
  latency_ms: Percentiles;
  cpu_ms_per_decision: { server: number; database: number | null };
  cores: { server: number; database: number | null; load_generator: number };
  /**
   * The cores of each of the server's processes that kept at least 0.05 busy, busiest
   * first, in the round where the busiest did the largest share: how unevenly the
   * connections fell on a server of several processes. Empty for one process.
   */
  uneven_round_cores: number[];
  peak_rss_mb: number;
  loadavg_1m: number;
  /** Fail-closed and other non-ALLOW outcomes summed over the rounds (Verdict). */
  refusals: Record<string, number>;
  flood_decisions_per_s: number | null;
}

export interface RunResult {
  /** verdict, cerbos, echo, or verdict+flood / cerbos+flood. */
  variant: string;
  target: TargetName;
  load: LoadName;
  concurrency: number | null;
  target_rps: number | null;
  rounds: RoundFigures[];
  median: Summary;
}

export interface ScenarioResult {
  id: string;
  title: string;
  what: string;
  items_per_call: number;
  /** What Verdict's configuration file held beyond the bench's issuer, API, bundle and database. */
  verdict_config: Record<string, unknown>;
  /** From spawn to ready, per server started for the scenario (ms). */
  ready_ms: Record<string, number>;
  /** The conformance probe: each check's expected and actual answer per server. */
  probe: ProbeResult[];
  runs: RunResult[];
}

export interface ProbeResult {
  check: string;
  target: TargetName;
  expected: string;
  actual: string;
  ok: boolean;
}

export interface Ratio {
  scenario: string;
  load: LoadName;
  /** Verdict's good decisions/s over Cerbos's (f: valid decisions/s during the flood). */
  throughput: number;
  /** Verdict's server CPU per decision over Cerbos's. */
  cpu_per_decision: number;
  /** Verdict's p99 over Cerbos's (for the open-loop runs this is the figure that matters). */
  p99: number;
}

export interface BenchResult {
  schema: 1;
  /** The command line that produced this file. */
  command: string;
  started_at: string;
  finished_at: string;
  git: { commit: string; dirty: boolean };
  machine: { cpus: number; model: string; memory_mb: number; kernel: string; loadavg_start: number[]; loadavg_end: number[] };
  versions: { node: string; ghz: string; cerbos: string | null };
  options: {
    duration_s: number;
    rounds: number;
    warmup_s: number;
    concurrency: number[];
    rate: boolean;
    rate_fraction: number;
    /** --rps: one open-loop rate for every server (rate_fraction then unused); null when absent (older results too). */
    rps?: number | null;
    connections: number;
    peer: boolean;
    scenarios: string[];
    /** Verdict ran under node --cpu-prof: its figures include the profiler's cost. */
    cpu_prof: boolean;
  };
  database: { kind: string; cpu_measured: boolean };
  bundle: { revision: string; raised_limits: { path: string[]; value: number }[] };
  scenarios: ScenarioResult[];
  ratios: Ratio[];
  /** Valid decisions/s during the flood over without it, per PDP and load (scenario f). */
  flood_retention: { target: TargetName; load: LoadName; ratio: number }[];
}
