// The observability sections of the configuration: the log level (VERDICT_LOG_LEVEL
// overrides the file's) and tracing (OpenTelemetry, exported only when configured).
import { z } from "zod";
import type { ConfigContext } from "../config/fields.js";

export const LOG_LEVELS = ["fatal", "error", "warn", "info", "debug", "trace", "silent"] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

const isLevel = (value: string | undefined): value is LogLevel => (LOG_LEVELS as readonly (string | undefined)[]).includes(value);

/** HTTP header names: a token of RFC 9110, lowercase. */
const headerName = z.string().regex(/^[a-z0-9!#$%&'*+.^_`|~-]{1,64}$/, "header names are lowercase RFC 9110 tokens");

const tracingSchema = z
  .object({
    /** OTLP/HTTP traces endpoint, e.g. http://otel-collector:4318/v1/traces; spans are exported only when it is set. */
    otlp_endpoint: z.url({ protocol: /^https?$/ }).optional(),
    /** Headers sent with each export (e.g. an API key of a hosted collector: use a ${VARIABLE} reference). */
    headers: z.record(headerName, z.string()).default({}),
    service_name: z.string().min(1).max(128).default("verdict"),
    /** The share of traces that start at Verdict (no sampled traceparent) that are kept; a caller's decision is always followed. */
    sample_ratio: z.number().min(0).max(1).default(1),
  })
  .strict();

export type TracingConfig = z.output<typeof tracingSchema>;

export const logSettings = ({ env }: ConfigContext) => ({
  log_level: z
    .enum(LOG_LEVELS)
    .default("info")
    .transform((level) => (isLevel(env.VERDICT_LOG_LEVEL) ? env.VERDICT_LOG_LEVEL : level)),
  tracing: tracingSchema.optional(),
});

/** A VERDICT_LOG_LEVEL that names no level is a problem of the configuration, reported with the file's. */
export function checkLogLevel({ env }: ConfigContext, check: z.RefinementCtx): void {
  if (env.VERDICT_LOG_LEVEL !== undefined && !isLevel(env.VERDICT_LOG_LEVEL)) {
    check.addIssue({ code: "custom", path: [], message: `VERDICT_LOG_LEVEL must be one of ${LOG_LEVELS.join(", ")}` });
  }
}
