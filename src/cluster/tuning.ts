// How many processes and policy threads Verdict runs on this machine, and the runtime
// settings each serving process starts with (its heap's growth, the young generation,
// glibc's arenas, the console's priority): docs/performance.md#memory-and-start.
import { availableParallelism, setPriority } from "node:os";
import { setFlagsFromString } from "node:v8";

/** Processes of "auto": one per CPU, at most this many (each keeps its own database connections). */
const MAX_AUTO_PROCESSES = 8;
/**
 * Set by a serving process on itself at start (V8 reads it at each full collection; set
 * once the process serves instead, it came too late: the heap had already grown while the
 * modules loaded, and peak RSS under load went from about 150 to 217 MB): the
 * old generation may grow by 25% of what is live before the next full collection, where
 * V8 otherwise lets a busy process's heap grow by up to 4×, garbage included
 * (docs/performance.md#memory-and-start). Set at run time rather than on node's command
 * line, so that a V8 without the flag only warns instead of refusing to start.
 */
export const SERVING_HEAP_GROWTH_FLAG = "--heap-growing-percent=25";
/**
 * On the command line of each process the primary starts (V8 sizes the young
 * generation when it creates the heap: too late to set at run time). Node's default
 * lets each of the two semi-spaces grow to 16 MB in a busy process; at 8 MB peak RSS
 * under load is about 15 MB lower (135 against 150 MB in bench (a) and (b)) with no
 * throughput lost that the bench could tell (docs/performance.md#memory-and-start).
 * A single serving process takes it from NODE_OPTIONS.
 */
export const FORKED_SEMI_SPACE_FLAG = "--max-semi-space-size=8";
/**
 * In the environment of each process the primary starts (glibc reads it when the
 * process starts: too late to set at run time). glibc gives each thread that allocates
 * an arena of its own, up to 8 per CPU; a serving process's threads (the event loop,
 * libuv's pool, V8's helpers, the policy workers) each hold freed memory in theirs.
 * With two, peak RSS under bench (e) (CheckBatch of 50 at c64) was about 7 MB lower
 * (median 145 against 152 MB, 7 alternating pairs) and 2–7 MB in (a), (b) and (d), with
 * no CPU per decision lost that two Verdicts loaded side by side could tell (alternating
 * whole runs of (e) at c16 differed more: docs/performance.md#memory-and-start).
 * Ignored by other C libraries (musl, macOS).
 * A single serving process takes it from its own environment.
 */
export const FORKED_MALLOC_ARENAS = { MALLOC_ARENA_MAX: "2" } as const;

/** How many processes `processes` means on this machine. */
export function processCount(processes: number | "auto"): number {
  return processes === "auto" ? Math.max(1, Math.min(MAX_AUTO_PROCESSES, availableParallelism())) : processes;
}

/** Policy evaluation workers of "auto" in each of `processes` processes: their share of the CPUs, at least 1, at most this. */
const MAX_AUTO_POLICY_WORKERS = 2;

/**
 * How many policy worker threads `policy_workers` means in each of `processes`
 * processes on this machine: "auto" gives each process its share of the CPUs, so
 * that one per CPU (`processes: auto`) does not run two WebAssembly workers per
 * process (each a V8 isolate and a WebAssembly memory) on one core.
 */
export function policyWorkersPerProcess(policyWorkers: number | "auto", processes: number): number {
  if (policyWorkers !== "auto") return policyWorkers;
  return Math.max(1, Math.min(MAX_AUTO_POLICY_WORKERS, Math.floor(availableParallelism() / Math.max(1, processes))));
}

const flagName = (arg: string) => (arg.split("=")[0] ?? "").replaceAll("_", "-");

/** The V8 flags a serving process sets on itself at start: SERVING_HEAP_GROWTH_FLAG unless node's command line gave it. */
export function servingRuntimeFlags(execArgv: readonly string[] = process.execArgv): string[] {
  return execArgv.some((arg) => flagName(arg) === flagName(SERVING_HEAP_GROWTH_FLAG)) ? [] : [SERVING_HEAP_GROWTH_FLAG];
}

/** The flags the primary adds to its processes' command line: FORKED_SEMI_SPACE_FLAG unless node's command line or NODE_OPTIONS gave one. */
export function forkedProcessFlags(execArgv: readonly string[] = process.execArgv, nodeOptions = process.env["NODE_OPTIONS"] ?? ""): string[] {
  const given = [...execArgv, ...nodeOptions.split(/\s+/)].some((arg) => flagName(arg) === flagName(FORKED_SEMI_SPACE_FLAG));
  return given ? [] : [FORKED_SEMI_SPACE_FLAG];
}

/** The variables the primary adds to its processes' environment: FORKED_MALLOC_ARENAS unless the environment bounds the arenas already (MALLOC_ARENA_MAX, or glibc.malloc.arena_max in GLIBC_TUNABLES). */
export function forkedProcessEnv(env: NodeJS.ProcessEnv = process.env): Record<string, string> {
  const given = env["MALLOC_ARENA_MAX"] !== undefined || /(^|:)glibc\.malloc\.arena_max=/.test(env["GLIBC_TUNABLES"] ?? "");
  return given ? {} : { ...FORKED_MALLOC_ARENAS };
}

/** Bounds the heap's growth in this serving process (single or one of several): see SERVING_HEAP_GROWTH_FLAG. */
export function tuneServingProcess(): void {
  for (const flag of servingRuntimeFlags()) setFlagsFromString(flag);
}

/** The console's process runs at this niceness (Linux: 0 is normal, 19 the lowest priority). */
export const CONSOLE_NICENESS = 10;

/**
 * Lowers the console's process's CPU priority: on CPUs it shares with the deciding
 * processes, the scheduler runs decisions first and the console's reads with what is
 * left (an operator's page can wait a few milliseconds; a Check should not). False
 * where the system refuses (the console still serves).
 */
export function yieldToDecisions(): boolean {
  try {
    setPriority(CONSOLE_NICENESS);
    return true;
  } catch {
    return false;
  }
}
