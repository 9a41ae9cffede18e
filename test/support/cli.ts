// The `verdict` command as separate processes, for tests that use it as people do.
import { spawn, type ChildProcess } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { packageRoot } from "../../src/paths.js";

export const VERDICT_BIN = join(packageRoot, "bin", "verdict.js");

export interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** The test process's environment with `env` over it; a key set to undefined is removed. */
function environment(env: Record<string, string | undefined>): NodeJS.ProcessEnv {
  const merged: NodeJS.ProcessEnv = { ...process.env, ...env };
  for (const [key, value] of Object.entries(env)) if (value === undefined) delete merged[key];
  return merged;
}

/** Runs `verdict ...args` to completion. */
export function runVerdict(args: string[], env: Record<string, string | undefined> = {}, stdin = ""): Promise<Run> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [VERDICT_BIN, ...args], { env: environment(env) });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
    child.on("close", (code) => resolve({ code, stdout, stderr }));
    child.stdin.end(stdin);
  });
}

export interface ServingVerdict {
  child: ChildProcess;
  /** host:port it listens on (from its "verdict is serving" log line, so port 0 works). */
  address: string;
  /** http://host:port of its admin listener (/healthz, /readyz, /metrics). */
  adminUrl: string;
  /** Everything it wrote to stderr so far. */
  stderr(): string;
  /** Its JSON log lines so far (stderr's lines that are JSON objects), parsed. */
  logLines(): Record<string, unknown>[];
  /**
   * Its log lines with message `msg`, once there is one and no more came for QUIET_MS: a line comes through its
   * process's output, possibly after the client saw what it logs, and an exact count is read from whole output
   * (a waitFor on the count would pass on the first of two lines). Rejects when none comes within 5 s.
   */
  settledLines(msg: string): Promise<Record<string, unknown>[]>;
}

/** How long no further line must come for a process's output on something to be taken as whole (settledLines). */
const QUIET_MS = 300;
/** How long settledLines waits for the first line. */
const FIRST_LINE_MS = 5_000;

async function settled(lines: () => Record<string, unknown>[]): Promise<Record<string, unknown>[]> {
  const until = Date.now() + FIRST_LINE_MS;
  while (lines().length === 0) {
    if (Date.now() > until) throw new Error(`no such log line within ${FIRST_LINE_MS} ms`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  for (let seen = lines().length; ;) {
    await new Promise((resolve) => setTimeout(resolve, QUIET_MS));
    const now = lines().length;
    if (now === seen) return lines();
    seen = now;
  }
}

/**
 * Starts `verdict serve ...args` and resolves once it logs that it is serving (log
 * level info or lower). Its admin listener takes a free port unless args name one:
 * test processes run side by side.
 */
export function serveVerdict(args: string[], env: Record<string, string | undefined> = {}): Promise<ServingVerdict> {
  const admin = args.includes("--admin-listen") ? [] : ["--admin-listen", "127.0.0.1:0"];
  const child = spawn(process.execPath, [VERDICT_BIN, "serve", ...args, ...admin], { env: environment(env), stdio: ["ignore", "ignore", "pipe"] });
  let stderr = "";
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`verdict serve did not start:\n${stderr}`)), 30_000);
    child.stderr?.on("data", (chunk: Buffer) => {
      stderr += chunk.toString();
      const match = /"address":"([^"]+)","admin":"([^"]+)".*"msg":"verdict is serving"/.exec(stderr);
      if (match?.[1] && match[2]) {
        clearTimeout(timer);
        // complete lines only: the last one may still be arriving
        const logLines = () =>
          stderr
            .slice(0, stderr.lastIndexOf("\n") + 1)
            .split("\n")
            .filter((line) => line.startsWith("{"))
            .map((line) => JSON.parse(line) as Record<string, unknown>);
        const settledLines = (msg: string) => settled(() => logLines().filter((line) => line["msg"] === msg));
        resolve({ child, address: match[1], adminUrl: match[2], stderr: () => stderr, logLines, settledLines });
      }
    });
    child.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`verdict serve exited with ${code}:\n${stderr}`));
    });
  });
}

/** SIGTERM, then the exit code. */
export function stopProcess(child: ChildProcess): Promise<number | null> {
  if (child.exitCode !== null) return Promise.resolve(child.exitCode);
  return new Promise((resolve) => {
    child.once("exit", (code) => resolve(code));
    child.kill("SIGTERM");
  });
}

/** Whether process `pid` still runs. */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** The processes whose command line mentions `text` (Linux: /proc), e.g. a data directory a server was started on. */
export function processesMentioning(text: string): number[] {
  return readdirSync("/proc")
    .filter((entry) => /^\d+$/.test(entry))
    .filter((pid) => {
      try {
        return readFileSync(`/proc/${pid}/cmdline`, "utf8").includes(text);
      } catch {
        return false; // it has ended since the listing
      }
    })
    .map(Number);
}
