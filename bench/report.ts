// From rounds to figures: medians, the Verdict/Cerbos ratios, the flood's toll, and
// the markdown table.
import type { BenchResult, LoadName, Ratio, RoundFigures, RunResult, ScenarioResult, Summary } from "./types.js";

export function median(values: number[]): number {
  const sorted = values.filter((v) => Number.isFinite(v)).sort((a, b) => a - b);
  if (sorted.length === 0) return NaN;
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? (sorted[mid] as number) : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}

const medianOrNull = (values: (number | null)[]): number | null => (values.some((v) => v === null) ? null : median(values as number[]));

export function summarize(rounds: RoundFigures[]): Summary {
  const refusals: Record<string, number> = {};
  const add = (key: string, n: number) => n > 0 && (refusals[key] = (refusals[key] ?? 0) + n);
  for (const r of rounds) {
    for (const [outcome, n] of Object.entries(r.outcomes ?? {})) if (outcome !== "ALLOW") add(outcome, n);
    add("unrecorded", r.unrecorded ?? 0);
    for (const [status, n] of Object.entries(r.statuses)) if (status !== "OK") add(`gRPC ${status}`, n);
  }
  return {
    decisions_per_s: median(rounds.map((r) => r.decisions_per_s)),
    good_decisions_per_s: median(rounds.map((r) => r.good_decisions_per_s)),
    latency_ms: {
      p50: median(rounds.map((r) => r.latency_ms.p50)),
      p95: median(rounds.map((r) => r.latency_ms.p95)),
      p99: median(rounds.map((r) => r.latency_ms.p99)),
    },
    cpu_ms_per_decision: {
      server: median(rounds.map((r) => r.cpu_ms_per_decision.server)),
      database: medianOrNull(rounds.map((r) => r.cpu_ms_per_decision.database)),
    },
    cores: {
      server: median(rounds.map((r) => r.cores.server)),
      database: medianOrNull(rounds.map((r) => r.cores.database)),
      load_generator: median(rounds.map((r) => r.cores.load_generator)),
    },
    uneven_round_cores: unevenRoundCores(rounds),
    peak_rss_mb: Math.max(...rounds.map((r) => r.peak_rss_mb.max)),
    loadavg_1m: median(rounds.map((r) => r.loadavg.end[0] ?? NaN)),
    refusals,
    flood_decisions_per_s: rounds.some((r) => r.flood) ? median(rounds.map((r) => r.flood?.decisions_per_s ?? NaN)) : null,
  };
}

/** The cores of each of the server's processes that kept at least 0.05 busy, busiest first. */
export function busyProcessCores(round: RoundFigures): number[] {
  return (round.cores.server_by_process ?? []).map((p) => p.cores).filter((cores) => cores >= 0.05);
}

/** See Summary.uneven_round_cores. */
function unevenRoundCores(rounds: readonly RoundFigures[]): number[] {
  let worst: number[] = [];
  let worstShare = 0;
  for (const round of rounds) {
    const busy = busyProcessCores(round);
    const total = busy.reduce((sum, cores) => sum + cores, 0);
    if (busy.length < 2 || total === 0) continue;
    const share = busy[0]! / total;
    if (share > worstShare) [worst, worstShare] = [busy, share];
  }
  return worst;
}

function find(scenario: ScenarioResult, variant: string, load: LoadName): RunResult | undefined {
  return scenario.runs.find((r) => r.variant === variant && r.load === load);
}

/** Verdict over Cerbos in each scenario and load where both ran (f: both under the flood). */
export function ratios(scenarios: ScenarioResult[]): Ratio[] {
  const out: Ratio[] = [];
  for (const scenario of scenarios) {
    const flood = scenario.runs.some((r) => r.variant.endsWith("+flood"));
    const [v, c] = flood ? ["verdict+flood", "cerbos+flood"] : ["verdict", "cerbos"];
    for (const load of [...new Set(scenario.runs.map((r) => r.load))]) {
      const verdict = find(scenario, v, load);
      const cerbos = find(scenario, c, load);
      if (!verdict || !cerbos) continue;
      out.push({
        scenario: scenario.id,
        load,
        throughput: verdict.median.good_decisions_per_s / cerbos.median.good_decisions_per_s,
        cpu_per_decision: verdict.median.cpu_ms_per_decision.server / cerbos.median.cpu_ms_per_decision.server,
        p99: verdict.median.latency_ms.p99 / cerbos.median.latency_ms.p99,
      });
    }
  }
  return out;
}

/** Valid good decisions/s during the flood over without it. */
export function floodRetention(scenarios: ScenarioResult[]): BenchResult["flood_retention"] {
  const out: BenchResult["flood_retention"] = [];
  for (const scenario of scenarios) {
    for (const run of scenario.runs) {
      if (!run.variant.endsWith("+flood")) continue;
      const alone = find(scenario, run.target, run.load);
      if (alone) out.push({ target: run.target, load: run.load, ratio: run.median.good_decisions_per_s / alone.median.good_decisions_per_s });
    }
  }
  return out;
}

/** One of issue 11's targets, judged from this run's own figures. */
export interface TargetCheck {
  target: string;
  measured: string;
  met: boolean;
}

/**
 * Where this run stands against issue 11's targets (only those its scenarios and
 * loads can judge; the burst test and the profile are not the bench's).
 */
export function issue11Targets(result: BenchResult): TargetCheck[] {
  const out: TargetCheck[] = [];
  const scenario = (id: string) => result.scenarios.find((s) => s.id === id);
  const run = (id: string, variant: string, load: LoadName) => {
    const s = scenario(id);
    return s ? find(s, variant, load) : undefined;
  };
  const ratio = (id: string, load: LoadName) => result.ratios.find((r) => r.scenario === id && r.load === load);
  const x = (n: number) => `${fixed(n, 2)}×`;
  for (const [id, throughput, cpu] of [
    ["a", 2, 0.5],
    ["b", 1.5, 0.75],
  ] as const) {
    const r = ratio(id, "c64");
    if (!r) continue;
    out.push({ target: `(${id}) c64: throughput ≥ ${throughput}× Cerbos's`, measured: x(r.throughput), met: r.throughput >= throughput });
    out.push({ target: `(${id}) c64: CPU per decision ≤ ${cpu}× Cerbos's`, measured: x(r.cpu_per_decision), met: r.cpu_per_decision <= cpu });
  }
  const own = run("b", "verdict", "c64");
  for (const id of ["c", "d"]) {
    const stateful = run(id, "verdict", "c64");
    if (!stateful) continue;
    if (own) {
      const share = stateful.median.good_decisions_per_s / own.median.good_decisions_per_s;
      out.push({
        target: `(${id}) c64: good decisions/s ≥ 50% of (b)'s`,
        measured: `${Math.round(share * 100)}% (${thousands(stateful.median.good_decisions_per_s)} of ${thousands(own.median.good_decisions_per_s)})`,
        met: share >= 0.5,
      });
    }
    const unavailable = Object.entries(stateful.median.refusals)
      .filter(([k]) => k.includes("state_unavailable"))
      .reduce((n, [, v]) => n + v, 0);
    out.push({
      target: `(${id}) c64: no state_unavailable`,
      measured: `${unavailable} in ${stateful.rounds.length} run${stateful.rounds.length === 1 ? "" : "s"}`,
      met: unavailable === 0,
    });
  }
  for (const id of ["a", "b"]) {
    const verdict = run(id, "verdict", "rate");
    const cerbos = run(id, "cerbos", "rate");
    if (!verdict) continue;
    out.push({ target: `(${id}) open loop: p50 ≤ 1 ms`, measured: `${ms(verdict.median.latency_ms.p50)} ms`, met: verdict.median.latency_ms.p50 <= 1 });
    if (cerbos)
      out.push({
        target: `(${id}) open loop: p99 ≤ Cerbos's`,
        measured: `${ms(verdict.median.latency_ms.p99)} vs ${ms(cerbos.median.latency_ms.p99)} ms`,
        met: verdict.median.latency_ms.p99 <= cerbos.median.latency_ms.p99,
      });
  }
  for (const id of ["c", "d"]) {
    const verdict = run(id, "verdict", "rate");
    if (!verdict) continue;
    const { p50, p99 } = verdict.median.latency_ms;
    out.push({ target: `(${id}) open loop: p50 ≤ 3 ms, p99 ≤ 15 ms`, measured: `${ms(p50)} / ${ms(p99)} ms`, met: p50 <= 3 && p99 <= 15 });
  }
  const flooded = run("f", "verdict+flood", "c64");
  const alone = run("f", "verdict", "c64");
  if (flooded && alone) {
    const kept = flooded.median.good_decisions_per_s / alone.median.good_decisions_per_s;
    out.push({ target: "(f) c64: valid throughput drops ≤ 20% during the flood", measured: `drops ${Math.round((1 - kept) * 100)}%`, met: kept >= 0.8 });
    const flood = flooded.rounds.map((r) => r.flood).filter((f): f is NonNullable<typeof f> => f !== null);
    const decisions = flood.reduce((n, f) => n + f.decisions, 0);
    const records = flood.reduce((n, f) => n + (f.records ?? f.decisions - (f.unrecorded ?? 0)), 0);
    if (decisions > 0)
      out.push({
        target: "(f) rejected tokens do not cost a database write each (≤ 0.1 audit records each)",
        measured: `${fixed(records / decisions, 2)} audit records per rejected token`,
        met: records / decisions <= 0.1,
      });
  }
  const verdictRuns = result.scenarios.flatMap((s) => s.runs.filter((r) => r.target === "verdict"));
  if (verdictRuns.length > 0) {
    const peak = Math.max(...verdictRuns.map((r) => r.median.peak_rss_mb));
    out.push({ target: "peak RSS ≤ 150 MB per Verdict process under load", measured: `${Math.round(peak)} MB`, met: peak <= 150 });
    // Start times move with the machine's load: the median start is judged, the range shown.
    const starts = result.scenarios.map((s) => s.ready_ms["verdict"]).filter((v): v is number => v !== undefined);
    if (starts.length > 0) {
      const typical = median(starts);
      out.push({
        target: "ready ≤ 1 s after start (built bundle)",
        measured: `median ${Math.round(typical)} ms of ${starts.length} starts (${Math.round(Math.min(...starts))}–${Math.round(Math.max(...starts))})`,
        met: typical <= 1000,
      });
    }
  }
  return out;
}

const fixed = (n: number | null, digits: number) => (n === null || !Number.isFinite(n) ? "–" : n.toFixed(digits));
const thousands = (n: number) => (Number.isFinite(n) ? Math.round(n).toLocaleString("en-US") : "–");
const ms = (n: number) => (!Number.isFinite(n) ? "–" : n < 10 ? n.toFixed(2) : n.toFixed(1));

function loadLabel(run: RunResult): string {
  return run.load === "rate" ? `${thousands(run.target_rps ?? NaN)}/s open` : `c${run.concurrency}`;
}

function refusalText(summary: Summary): string {
  const entries = Object.entries(summary.refusals);
  return entries.length === 0 ? "" : entries.map(([k, n]) => `${k} ${n}`).join("; ");
}

export function markdown(result: BenchResult): string {
  const o = result.options;
  const lines: string[] = [];
  lines.push(`# Verdict bench, ${result.started_at.slice(0, 16).replace("T", " ")} UTC`, "");
  lines.push(`Command: \`${result.command}\``, "");
  lines.push(
    `Commit ${result.git.commit.slice(0, 12)}${result.git.dirty ? " (with uncommitted changes)" : ""}; Node ${result.versions.node}; ghz ${result.versions.ghz}` +
      `${result.versions.cerbos ? `; Cerbos ${result.versions.cerbos}` : ""}; database ${result.database.kind}${result.database.cpu_measured ? "" : " (its CPU not measured: not a local process)"}.`,
  );
  lines.push(
    `Machine: ${result.machine.cpus} CPUs (${result.machine.model}), ${Math.round(result.machine.memory_mb / 1024)} GB, shared with other work; ` +
      `load average ${result.machine.loadavg_start.map((l) => l.toFixed(2)).join(" ")} at the start, ${result.machine.loadavg_end.map((l) => l.toFixed(2)).join(" ")} at the end.`,
  );
  lines.push(
    `Each row: the median of ${o.rounds} run${o.rounds === 1 ? "" : "s"} of ${o.duration_s} s (peak RSS: the highest), after ${o.warmup_s} s of warm-up per server; ` +
      `ghz over ${o.connections} connections; servers alternate run by run. Open loop ("/s open"): ghz --rps --async at ${o.rps ? `${o.rps} calls/s for every server` : `${o.rate_fraction} of the scenario's own highest closed-loop rate`}.` +
      (o.cpu_prof ? " Verdict ran under node --cpu-prof: its figures include the profiler's cost." : ""),
    "",
  );
  lines.push(
    "| scenario | server | load | decisions/s | good/s | p50 ms | p95 ms | p99 ms | server CPU ms/decision | DB CPU ms/decision | server cores | peak RSS MB | load 1m | not good |",
  );
  lines.push("|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|");
  for (const scenario of result.scenarios) {
    for (const [i, run] of scenario.runs.entries()) {
      const m = run.median;
      const flood = m.flood_decisions_per_s !== null ? ` (+ ${thousands(m.flood_decisions_per_s)} flood/s)` : "";
      lines.push(
        `| ${i === 0 ? `${scenario.id} ${scenario.title}` : ""} | ${run.variant} | ${loadLabel(run)} | ${thousands(m.decisions_per_s)}${flood} | ${thousands(m.good_decisions_per_s)} | ${ms(m.latency_ms.p50)} | ${ms(m.latency_ms.p95)} | ${ms(m.latency_ms.p99)} | ` +
          `${fixed(m.cpu_ms_per_decision.server, 3)} | ${fixed(m.cpu_ms_per_decision.database, 3)} | ${fixed(m.cores.server, 2)}${m.uneven_round_cores.length > 0 ? ` (${m.uneven_round_cores.map((c) => fixed(c, 2)).join(" + ")})` : ""} | ${fixed(m.peak_rss_mb, 0)} | ${fixed(m.loadavg_1m, 2)} | ${refusalText(m)} |`,
      );
    }
  }
  if (result.ratios.length > 0) {
    lines.push("", "Verdict / Cerbos in the same run (f: valid decisions during the flood; CPU over all decisions of the run):", "");
    lines.push("| scenario | load | throughput (good/s) | CPU per decision | p99 |");
    lines.push("|---|---|---:|---:|---:|");
    for (const r of result.ratios)
      lines.push(`| ${r.scenario} | ${r.load} | ${fixed(r.throughput, 2)} | ${fixed(r.cpu_per_decision, 2)} | ${fixed(r.p99, 2)} |`);
  }
  if (result.flood_retention.length > 0) {
    lines.push("", "Valid good decisions/s during the flood over without it (f):", "");
    lines.push("| server | load | ratio |");
    lines.push("|---|---|---:|");
    for (const r of result.flood_retention) lines.push(`| ${r.target} | ${r.load} | ${fixed(r.ratio, 2)} |`);
  }
  const targets = issue11Targets(result);
  if (targets.length > 0) {
    lines.push("", "Issue 11's targets, judged from this run:", "");
    lines.push("| target | measured | met |");
    lines.push("|---|---|---|");
    for (const t of targets) lines.push(`| ${t.target} | ${t.measured} | ${t.met ? "yes" : "**no**"} |`);
  }
  const ready = result.scenarios.map(
    (s) =>
      `${s.id}: ${Object.entries(s.ready_ms)
        .map(([name, value]) => `${name} ${Math.round(value)} ms`)
        .join(", ")}`,
  );
  if (ready.length > 0) lines.push("", `Ready after start (spawn to serving, per scenario): ${ready.join("; ")}.`);
  return lines.join("\n") + "\n";
}

/** The short version for the terminal: the ratios and the flood's toll. */
export function ratioLines(result: BenchResult): string[] {
  const lines = result.ratios.map(
    (r) =>
      `verdict/cerbos ${r.scenario} ${r.load}: throughput ${fixed(r.throughput, 2)}, CPU per decision ${fixed(r.cpu_per_decision, 2)}, p99 ${fixed(r.p99, 2)}`,
  );
  for (const r of result.flood_retention) lines.push(`flood ${r.target} ${r.load}: valid good decisions/s ${fixed(r.ratio, 2)} of without`);
  return lines;
}
