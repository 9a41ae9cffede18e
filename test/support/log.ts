// A real logger (the one Verdict uses) whose JSON lines a test can read back.
import { PassThrough } from "node:stream";
import { createLogger, type Logger } from "../../src/observability/index.js";

export interface CapturedLog {
  log: Logger;
  lines(): Record<string, unknown>[];
}

export function captureLog(): CapturedLog {
  const stream = new PassThrough();
  let text = "";
  stream.on("data", (chunk: Buffer) => (text += chunk.toString("utf8")));
  return {
    log: createLogger("info", stream),
    lines: () =>
      text
        .split("\n")
        .filter((line) => line.trim() !== "")
        .map((line) => JSON.parse(line) as Record<string, unknown>),
  };
}
