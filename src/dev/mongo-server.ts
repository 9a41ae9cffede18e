// Starting the pinned local-mongo (mongo-java-server) for npm start and the CLI
// when no database is configured. It listens on 127.0.0.1 only and is stopped
// with the process that started it.
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdirSync } from "node:fs";
import { VerdictError } from "../errors/index.js";
import { toolPath } from "../paths.js";

export interface MongoServerProcess {
  uri: string;
  kind: "local-mongo" | "mongod";
  /** The server's process id (tests kill it with SIGKILL to prove durability). */
  pid: number | undefined;
  stop(): Promise<void>;
}

const READY_TIMEOUT_MS = 60_000;

export function localMongoAvailable(): boolean {
  return existsSync(toolPath("local-mongo"));
}

/**
 * The pinned local-mongo; with `dbpath` its data persists there, else it lives in
 * memory. With `oplog` it has change streams (like a replica set); without, it
 * refuses them (like a standalone server).
 */
export async function startLocalMongo(options: { dbpath?: string; port?: number; oplog?: boolean } = {}): Promise<MongoServerProcess> {
  if (!localMongoAvailable()) throw new VerdictError("tool_missing", `${toolPath("local-mongo")} is missing: run npm run tools (needs Java 17+ and Maven)`);
  const args = ["--port", String(options.port ?? 0), "--exit-with-stdin"];
  if (options.dbpath) {
    mkdirSync(options.dbpath, { recursive: true });
    args.push("--dbpath", options.dbpath);
  }
  if (options.oplog) args.push("--oplog");
  // stdin stays open as a pipe: if this process dies, local-mongo sees EOF and exits.
  const child = spawn(toolPath("local-mongo"), args, { stdio: ["pipe", "pipe", "pipe"] });
  return startServerProcess(child, /local-mongo listening on 127\.0\.0\.1:(\d+)/, "local-mongo", "local-mongo");
}

/** A database server process started with `spawn`, once it prints that it is ready (`ready` captures its port). */
export async function startServerProcess(
  child: ChildProcess,
  ready: RegExp,
  name: string,
  kind: MongoServerProcess["kind"],
  port?: number,
): Promise<MongoServerProcess> {
  const printed = await waitForLine(child, ready, name);
  return { uri: `mongodb://127.0.0.1:${port ?? printed}/?directConnection=true`, kind, pid: child.pid, stop: () => stopChild(child) };
}

function waitForLine(child: ChildProcess, pattern: RegExp, name: string): Promise<string> {
  return new Promise((resolve, reject) => {
    let output = "";
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`${name} did not start within ${READY_TIMEOUT_MS / 1000}s:\n${output.slice(-2000)}`));
    }, READY_TIMEOUT_MS);
    const onData = (chunk: Buffer) => {
      output += chunk.toString("utf8");
      const match = pattern.exec(output);
      if (match) {
        clearTimeout(timer);
        // keep draining the pipes so a chatty server never blocks on a full buffer
        child.stdout?.off("data", onData);
        child.stderr?.removeAllListeners("data");
        child.stdout?.resume();
        child.stderr?.resume();
        resolve(match[1] ?? "");
      }
    };
    child.stdout?.on("data", onData);
    child.stderr?.on("data", (chunk: Buffer) => {
      output += chunk.toString("utf8");
    });
    child.once("error", (error) => {
      clearTimeout(timer);
      reject(new Error(`${name} could not be started: ${error.message}`));
    });
    child.once("exit", (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`${name} exited before it was ready (${signal ?? `exit ${code}`}):\n${output.slice(-2000)}`));
    });
  });
}

function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const kill = setTimeout(() => child.kill("SIGKILL"), 10_000);
    child.once("exit", () => {
      clearTimeout(kill);
      resolve();
    });
    child.kill("SIGTERM");
  });
}
