// The log section of the configuration; VERDICT_LOG_LEVEL overrides the file.
import { z } from "zod";
import type { ConfigContext } from "../config/fields.js";

export const LOG_LEVELS = ["fatal", "error", "warn", "info", "debug", "trace", "silent"] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

const isLevel = (value: string | undefined): value is LogLevel => (LOG_LEVELS as readonly (string | undefined)[]).includes(value);

export const logSettings = ({ env }: ConfigContext) => ({
  log_level: z
    .enum(LOG_LEVELS)
    .default("info")
    .transform((level) => (isLevel(env.VERDICT_LOG_LEVEL) ? env.VERDICT_LOG_LEVEL : level)),
});

/** A VERDICT_LOG_LEVEL that names no level is a problem of the configuration, reported with the file's. */
export function checkLogLevel({ env }: ConfigContext, check: z.RefinementCtx): void {
  if (env.VERDICT_LOG_LEVEL !== undefined && !isLevel(env.VERDICT_LOG_LEVEL)) {
    check.addIssue({ code: "custom", path: [], message: `VERDICT_LOG_LEVEL must be one of ${LOG_LEVELS.join(", ")}` });
  }
}
