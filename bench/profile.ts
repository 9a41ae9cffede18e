// Summarises V8 CPU profiles (`npm run bench -- --cpu-prof DIR` writes one per
// Verdict process and thread): where the time went, by part of the code (a folder
// of src/, a package, Node's own internals, garbage collection, idle) and by
// function, as self time in percent of the busy time.
//   node --import tsx bench/profile.ts DIR|FILE... [--top 25]
import { readdirSync, readFileSync, statSync } from "node:fs";
import { basename, join } from "node:path";

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}

interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

export interface ProfileSummary {
  file: string;
  /** Sampled time that was not idle, ms. */
  busyMs: number;
  wallMs: number;
  /** Part of the code → self ms. */
  parts: [string, number][];
  /** Function (part: name) → self ms. */
  functions: [string, number][];
}

/** The part of the code a frame belongs to: src/<folder>, a package, node:internal, or a V8 pseudo-frame. */
export function partOf(url: string, name: string): string {
  if (url === "") {
    if (name === "(garbage collector)") return "(gc)";
    if (name === "(idle)" || name === "(program)" || name === "(root)") return name;
    return "(native)";
  }
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (pkg?.[1]) return pkg[1] === "@verdict/sdk" ? "sdk" : pkg[1];
  if (url.includes("/sdk/gen/") || url.includes("/sdk/dist/gen/")) return "sdk/gen";
  if (url.includes("/sdk/")) return "sdk";
  const src = /\/(?:src|dist\/src|dist)\/([^/]+)\//.exec(url);
  if (src?.[1]) return `src/${src[1]}`;
  if (url.startsWith("node:")) return "node:" + (url.slice(5).split("/")[1] ?? url.slice(5));
  if (url.startsWith("evalmachine") || url.includes("[worker eval]")) return "policy worker";
  return basename(url);
}

/**
 * Where a line of the server's bundle (dist/bundle/*.mjs, scripts/bundle.mjs) came
 * from: esbuild writes each module's path as a comment line ("// node_modules/mongodb/lib/...",
 * "// dist/decide/...") before its code. The path as a URL-like string for partOf, or undefined.
 */
const bundleIndexes = new Map<string, { lines: number[]; paths: string[] }>();
export function bundleSourceOf(url: string, lineNumber: number): string | undefined {
  if (!/\/dist\/bundle\/[^/]+\.mjs$/.test(url)) return undefined;
  let index = bundleIndexes.get(url);
  if (!index) {
    index = { lines: [], paths: [] };
    try {
      const text = readFileSync(new URL(url), "utf8").split("\n");
      text.forEach((line, at) => {
        const match = /^\/\/ ((?:node_modules|dist|sdk)\/\S+\.[cm]?js)$/.exec(line);
        if (match?.[1]) {
          index?.lines.push(at);
          index?.paths.push(match[1]);
        }
      });
    } catch {
      // the bundle was rebuilt or removed since the profile: its lines stay "src/bundle"
    }
    bundleIndexes.set(url, index);
  }
  let low = 0;
  let high = index.lines.length - 1;
  let found: string | undefined;
  while (low <= high) {
    const mid = (low + high) >> 1;
    if ((index.lines[mid] as number) <= lineNumber) {
      found = index.paths[mid];
      low = mid + 1;
    } else high = mid - 1;
  }
  return found === undefined ? undefined : `/${found}`;
}

export function summarize(file: string): ProfileSummary {
  const profile = JSON.parse(readFileSync(file, "utf8")) as CpuProfile;
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const self = new Map<number, number>();
  for (let i = 0; i < profile.samples.length; i++) {
    const id = profile.samples[i] as number;
    self.set(id, (self.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0) / 1000);
  }
  const parts = new Map<string, number>();
  const functions = new Map<string, number>();
  let busy = 0;
  for (const [id, ms] of self) {
    const node = byId.get(id);
    if (!node) continue;
    const { functionName, url, lineNumber } = node.callFrame;
    const part = partOf(bundleSourceOf(url, lineNumber) ?? url, functionName);
    if (part === "(idle)" || part === "(root)") continue;
    busy += ms;
    parts.set(part, (parts.get(part) ?? 0) + ms);
    const fn = `${part}: ${functionName || "(anonymous)"}${url ? ` ${basename(url)}:${lineNumber + 1}` : ""}`;
    functions.set(fn, (functions.get(fn) ?? 0) + ms);
  }
  const sorted = (map: Map<string, number>) => [...map.entries()].sort((a, b) => b[1] - a[1]);
  return { file, busyMs: busy, wallMs: (profile.endTime - profile.startTime) / 1000, parts: sorted(parts), functions: sorted(functions) };
}

function pct(ms: number, of: number): string {
  return `${((100 * ms) / of).toFixed(1)}%`;
}

export function render(summary: ProfileSummary, top: number): string {
  const lines = [
    `## ${basename(summary.file)}: busy ${summary.busyMs.toFixed(0)} ms of ${summary.wallMs.toFixed(0)} ms`,
    "",
    "| part | self | share |",
    "|---|---:|---:|",
  ];
  for (const [part, ms] of summary.parts.slice(0, top)) lines.push(`| ${part} | ${ms.toFixed(0)} ms | ${pct(ms, summary.busyMs)} |`);
  lines.push("", "| function | self | share |", "|---|---:|---:|");
  for (const [fn, ms] of summary.functions.slice(0, top)) lines.push(`| ${fn.replaceAll("|", "\\|")} | ${ms.toFixed(0)} ms | ${pct(ms, summary.busyMs)} |`);
  return lines.join("\n") + "\n";
}

function files(paths: string[]): string[] {
  return paths.flatMap((path) =>
    statSync(path).isDirectory()
      ? readdirSync(path)
          .filter((name) => name.endsWith(".cpuprofile"))
          .sort()
          .map((name) => join(path, name))
      : [path],
  );
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const args = process.argv.slice(2);
  const at = args.indexOf("--top");
  const top = at >= 0 ? Number(args.splice(at, 2)[1]) : 25;
  if (args.length === 0) {
    process.stderr.write("usage: node --import tsx bench/profile.ts DIR|FILE... [--top N]\n");
    process.exit(2);
  }
  for (const file of files(args)) process.stdout.write(render(summarize(file), top) + "\n");
}
