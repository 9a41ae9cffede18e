// The one logger. JSON lines on stderr (stdout is for command output), with
// token-bearing fields redacted in case one is ever passed by mistake.
import { pino, type Logger as PinoLogger } from "pino";
import type { LogLevel } from "./config.js";

export type Logger = PinoLogger;

export function createLogger(level: LogLevel = "info", destination: number | NodeJS.WritableStream = 2): Logger {
  const stream = typeof destination === "number" ? pino.destination({ fd: destination, sync: true }) : destination;
  return pino(
    {
      level,
      base: { service: "verdict" },
      redact: { paths: ["token", "*.token", "authorization", "*.authorization", "proof", "*.proof", "apiKey", "*.apiKey"], censor: "[redacted]" },
      timestamp: pino.stdTimeFunctions.isoTime,
    },
    stream,
  );
}

/** A logger that discards everything, for commands and tests that need none. */
export function silentLogger(): Logger {
  return pino({ level: "silent" });
}
