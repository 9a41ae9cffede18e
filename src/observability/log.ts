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

/**
 * A URL as it may be logged: scheme, host, port and path. Never its userinfo, query or
 * fragment, where credentials travel (user:password@, ?api_key=).
 */
export function urlForLog(value: string): string {
  if (!URL.canParse(value)) return "[not a URL]";
  const { protocol, host, pathname } = new URL(value);
  return `${protocol}//${host}${pathname}`;
}

/** A logger that discards everything, for commands and tests that need none. */
export function silentLogger(): Logger {
  return pino({ level: "silent" });
}

/**
 * A warning about something that can happen thousands of times a second (a refused
 * connection): the first is logged at once, the rest counted and logged together
 * (`times`) at most once per `everyMs`, so a flood costs a line per window, not one
 * per event. A count may carry fields of its own (an error's message): a line shows
 * those of the last count it stands for.
 */
export class CountedWarning {
  private pending = 0;
  private latest: Record<string, unknown> = {};
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly log: Logger,
    private readonly message: string,
    private readonly fields: Record<string, unknown> = {},
    private readonly everyMs = 10_000,
  ) {}

  count(detail: Record<string, unknown> = {}): void {
    if (this.timer) {
      this.pending += 1;
      this.latest = detail;
      return;
    }
    this.log.warn({ ...this.fields, ...detail, times: 1 }, this.message);
    this.timer = setTimeout(() => this.flush(), this.everyMs).unref();
  }

  private flush(): void {
    this.timer = undefined;
    if (this.pending === 0) return;
    const times = this.pending;
    this.pending = 0;
    this.log.warn({ ...this.fields, ...this.latest, times, withinMs: this.everyMs }, this.message);
    this.latest = {};
    this.timer = setTimeout(() => this.flush(), this.everyMs).unref();
  }
}
