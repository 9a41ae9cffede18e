// The floor (bench/echo-server.ts) as a separate process of plain Node: the file is
// transpiled once with the TypeScript compiler (no loader in the measured process),
// into node_modules/.cache so that its imports resolve from the repository.
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import ts from "typescript";
import { packageRoot } from "../../src/paths.js";
import type { GhzCall } from "../ghz.js";
import { startProcess, type ServerProcess } from "../process.js";
import { VERDICT_PROTO } from "./verdict.js";

export interface RunningEcho {
  process: ServerProcess;
  address: string;
  call: GhzCall;
  stop(): Promise<void>;
}

function transpileEchoServer(): string {
  const source = readFileSync(join(packageRoot, "bench", "echo-server.ts"), "utf8");
  const { outputText } = ts.transpileModule(source, { compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 } });
  const dir = join(packageRoot, "node_modules", ".cache", "verdict-bench");
  mkdirSync(dir, { recursive: true });
  const file = join(dir, "echo-server.mjs");
  writeFileSync(file, outputText);
  return file;
}

export async function startEcho(dir: string): Promise<RunningEcho> {
  const server = await startProcess({
    command: process.execPath,
    args: [transpileEchoServer()],
    cwd: packageRoot,
    logFile: join(dir, "echo.log"),
    readyLine: /echo listening on (\S+)/,
  });
  return {
    process: server,
    address: server.ready,
    call: { method: "verdict.v1.PolicyDecisionService.Check", proto: VERDICT_PROTO },
    stop: () => server.stop(),
  };
}
