// Reading the deployment files as a container engine and Helm would: Dockerfile
// instructions, the compose file, and the chart rendered by the pinned helm.
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { parse, parseAllDocuments } from "yaml";
import { buildConfig } from "../../src/config/index.js";
import { packageRoot } from "../../src/paths.js";

export const repo = (...parts: string[]) => join(packageRoot, ...parts);

export interface Instruction {
  keyword: string;
  args: string;
  line: number;
}

export interface Stage {
  name: string | undefined;
  from: string;
  instructions: Instruction[];
}

/** A Dockerfile's instructions (continuations joined, comments dropped), grouped by stage, with ARG defaults applied to FROM. */
export function parseDockerfile(path: string): { args: Record<string, string>; stages: Stage[] } {
  const lines = readFileSync(path, "utf8").split("\n");
  const instructions: Instruction[] = [];
  let pending = "";
  let start = 0;
  for (const [i, raw] of lines.entries()) {
    const line = raw.trimEnd();
    if (pending === "" && (line.trim() === "" || line.trimStart().startsWith("#"))) continue;
    if (pending === "") start = i + 1;
    if (line.endsWith("\\")) {
      pending += line.slice(0, -1) + " ";
      continue;
    }
    const full = (pending + line).trim();
    pending = "";
    const match = /^(\S+)\s+([\s\S]*)$/.exec(full);
    if (match) instructions.push({ keyword: match[1]!.toUpperCase(), args: match[2]!.trim(), line: start });
  }
  const args: Record<string, string> = {};
  const stages: Stage[] = [];
  for (const instruction of instructions) {
    if (instruction.keyword === "ARG" && stages.length === 0) {
      const [name, value = ""] = instruction.args.split(/=(.*)/s);
      args[name!] = value;
    } else if (instruction.keyword === "FROM") {
      const [image = "", , name] = instruction.args.split(/\s+/);
      stages.push({ name, from: image.replace(/\$\{(\w+)\}/g, (_, key: string) => args[key] ?? ""), instructions: [] });
    } else stages.at(-1)?.instructions.push(instruction);
  }
  return { args, stages };
}

/** A JSON-array instruction (CMD ["a", "b"]) as its words; shell form split on spaces. */
export function words(args: string): string[] {
  return args.startsWith("[") ? (JSON.parse(args) as string[]) : args.split(/\s+/);
}

/** COPY's sources, destination and --from stage. */
export function copyOf(instruction: Instruction): { from: string | undefined; sources: string[]; destination: string } {
  const parts = instruction.args.split(/\s+/);
  const flags = parts.filter((part) => part.startsWith("--"));
  const paths = parts.filter((part) => !part.startsWith("--"));
  const from = flags.find((flag) => flag.startsWith("--from="))?.slice("--from=".length);
  return { from, sources: paths.slice(0, -1), destination: paths.at(-1)! };
}

/** Whether .dockerignore's patterns (the subset this repository uses) exclude a path. */
export function dockerIgnored(path: string, patterns: string[]): boolean {
  const segments = path.replace(/\/$/, "").split("/");
  return patterns.some((pattern) => {
    if (pattern.startsWith("**/")) return segments.includes(pattern.slice(3)) || segments.some((s) => matchGlob(pattern.slice(3), s));
    const parts = pattern.split("/");
    return parts.every((part, i) => segments[i] !== undefined && matchGlob(part, segments[i]));
  });
}

function matchGlob(pattern: string, value: string): boolean {
  const regex = new RegExp(`^${pattern.replace(/[.+^${}()|[\]\\]/g, "\\$&").replace(/\*/g, "[^/]*")}$`);
  return regex.test(value);
}

export function dockerIgnorePatterns(): string[] {
  return readFileSync(repo(".dockerignore"), "utf8")
    .split("\n")
    .map((line) => line.trim())
    .filter((line) => line !== "" && !line.startsWith("#"));
}

export function readYaml<T>(path: string): T {
  return parse(readFileSync(path, "utf8"), { merge: true }) as T;
}

export type Manifest = { apiVersion: string; kind: string; metadata: { name: string }; [key: string]: unknown };

/** `helm template` of the chart with the pinned helm; throws with helm's message when it fails. */
export function renderChart(args: string[] = []): Manifest[] {
  const helm = repo(".tools", "bin", "helm");
  if (!existsSync(helm)) throw new Error(`${helm} is missing: run npm run tools`);
  const result = spawnSync(helm, ["template", "verdict", repo("deploy", "helm", "verdict"), "--namespace", "verdict", ...args], { encoding: "utf8" });
  if (result.status !== 0) throw new Error(result.stderr || `helm template exited with ${result.status}`);
  return parseAllDocuments(result.stdout)
    .map((document) => document.toJS() as Manifest | null)
    .filter((manifest): manifest is Manifest => manifest !== null);
}

/** Validates a configuration file's object with Verdict's own loader (throws ConfigError naming every problem). */
export function validateVerdictConfig(raw: Record<string, unknown>): void {
  buildConfig(raw, { baseDir: packageRoot, env: {} });
}

export function hostPort(value: string): { host: string; port: number } {
  const separator = value.lastIndexOf(":");
  return { host: value.slice(0, separator), port: Number(value.slice(separator + 1)) };
}
