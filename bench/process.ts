// A server under test as a real separate process. Its output goes to a log file,
// not through a pipe to the bench, so that a server that logs a lot under load
// costs the bench nothing; readiness is a line in that file.
import { spawn, type ChildProcess } from "node:child_process";
import { closeSync, openSync, readFileSync } from "node:fs";
import { setTimeout as sleep } from "node:timers/promises";

export interface ServerProcess {
  child: ChildProcess;
  pid: number;
  /** The ready line's first capture group (e.g. the address it listens on). */
  ready: string;
  /** From spawn to the ready line (ms, polled every 5 ms). */
  readyMs: number;
  logFile: string;
  /** The log's last lines, for error messages. */
  logTail(): string;
  /** SIGTERM, then SIGKILL after 15 s; resolves when it has exited. */
  stop(): Promise<void>;
}

export interface StartOptions {
  command: string;
  args: string[];
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  logFile: string;
  /** Matched against the whole log; its first group is returned as `ready`. */
  readyLine: RegExp;
  /** Or a probe that resolves true when the server answers (for servers without a telling log line). */
  readyProbe?: () => Promise<boolean>;
  timeoutMs?: number;
}

export async function startProcess(options: StartOptions): Promise<ServerProcess> {
  const fd = openSync(options.logFile, "a");
  const started = performance.now();
  const child = spawn(options.command, options.args, { env: options.env ?? process.env, cwd: options.cwd, stdio: ["ignore", fd, fd] });
  closeSync(fd); // the child has its own copy
  const logTail = () => readFileSync(options.logFile, "utf8").split("\n").slice(-30).join("\n");
  let exited: string | undefined;
  child.once("exit", (code, signal) => (exited = signal ?? `exit ${code}`));
  child.once("error", (error) => (exited = error.message));
  const deadline = started + (options.timeoutMs ?? 60_000);
  for (;;) {
    if (exited !== undefined) throw new Error(`${options.command} ${options.args.join(" ")} stopped before it was ready (${exited}):\n${logTail()}`);
    const match = options.readyLine.exec(readFileSync(options.logFile, "utf8"));
    if (match && (!options.readyProbe || (await options.readyProbe()))) {
      const readyMs = performance.now() - started;
      return {
        child,
        pid: child.pid as number,
        ready: match[1] ?? "",
        readyMs,
        logFile: options.logFile,
        logTail,
        stop: () => stopChild(child),
      };
    }
    if (performance.now() > deadline) {
      child.kill("SIGKILL");
      throw new Error(`${options.command} was not ready within ${(options.timeoutMs ?? 60_000) / 1000} s:\n${logTail()}`);
    }
    await sleep(5);
  }
}

function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const kill = setTimeout(() => child.kill("SIGKILL"), 15_000);
    child.once("exit", () => {
      clearTimeout(kill);
      resolve();
    });
    child.kill("SIGTERM");
  });
}
