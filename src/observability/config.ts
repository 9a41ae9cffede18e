// The observability sections of the configuration: the log level (VERDICT_LOG_LEVEL
// overrides the file's) and tracing (OpenTelemetry, exported only when configured).
import { z } from "zod";
import type { ConfigContext } from "../config/fields.js";
import { plaintextBeyondLoopback } from "../server/loopback.js";

export const LOG_LEVELS = ["fatal", "error", "warn", "info", "debug", "trace", "silent"] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

const isLevel = (value: string | undefined): value is LogLevel => (LOG_LEVELS as readonly (string | undefined)[]).includes(value);

/** HTTP header names: a token of RFC 9110, lowercase. */
const headerName = z.string().regex(/^[a-z0-9!#$%&'*+.^_`|~-]{1,64}$/, "header names are lowercase RFC 9110 tokens");

const parsed = (value: string | undefined): URL | undefined => (value !== undefined && URL.canParse(value) ? new URL(value) : undefined);

/** The OpenTelemetry exporter's own variables of headers: it sends them with every export, beside tracing.headers. */
export const OTLP_HEADER_VARIABLES = ["OTEL_EXPORTER_OTLP_HEADERS", "OTEL_EXPORTER_OTLP_TRACES_HEADERS"] as const;

/** Whether the process environment gives the exporter headers of its own (OTLP_HEADER_VARIABLES). */
const headersFromEnvironment = (variables: Readonly<Record<string, string | undefined>> | undefined): boolean =>
  OTLP_HEADER_VARIABLES.some((name) => (variables?.[name] ?? "").trim() !== "");

const tracingSchema = (env: ConfigContext["env"]) =>
  z
    .object({
      /** OTLP/HTTP traces endpoint, e.g. http://otel-collector:4318/v1/traces; spans are exported only when it is set. */
      otlp_endpoint: z.url({ protocol: /^https?$/ }).optional(),
      /** Headers sent with each export (e.g. an API key of a hosted collector: use a ${VARIABLE} reference). */
      headers: z.record(headerName, z.string()).default({}),
      service_name: z.string().min(1).max(128).default("verdict"),
      /** The share of traces that start at Verdict (no sampled traceparent) that are kept; a caller's decision is always followed. */
      sample_ratio: z.number().min(0).max(1).default(1),
      /** Insecure: send the headers (and the endpoint's query string) to a plain http:// endpoint beyond loopback, in clear. */
      insecure_plaintext: z.boolean().default(false),
    })
    .strict()
    .superRefine((value, check) => {
      const url = parsed(value.otlp_endpoint);
      if (!url) return; // none, or refused as no URL
      // The value is never echoed: it may hold the credentials.
      if (url.username !== "" || url.password !== "") {
        check.addIssue({
          code: "custom",
          path: ["otlp_endpoint"],
          message: "must not carry credentials (user:password@): send them in tracing.headers (e.g. authorization: from a ${VARIABLE} reference)",
        });
      } else if (!value.insecure_plaintext && tracingCredentialsInClear(value, headersFromEnvironment(env.variables))) {
        check.addIssue({
          code: "custom",
          path: ["otlp_endpoint"],
          message: `a plain http URL beyond loopback would send tracing.headers (or ${OTLP_HEADER_VARIABLES.join(" or ")}, or the URL's query string) in clear: use https, or set tracing.insecure_plaintext: true if a mesh encrypts the hop`,
        });
      }
    });

export type TracingConfig = z.output<ReturnType<typeof tracingSchema>>;

/**
 * Whether the OTLP export sends what may be a credential (headers, a query string) over
 * plain http:// to a host beyond loopback. Spans themselves carry no secret (docs/operations.md).
 */
function tracingCredentialsInClear(
  { otlp_endpoint, headers }: { otlp_endpoint?: string | undefined; headers: Record<string, string> },
  /** The environment gives the exporter headers too (headersFromEnvironment). */
  envHeaders: boolean,
): boolean {
  const url = parsed(otlp_endpoint);
  return url !== undefined && plaintextBeyondLoopback(url.href) && (Object.keys(headers).length > 0 || envHeaders || url.search !== "");
}

export const logSettings = ({ env }: ConfigContext) => ({
  log_level: z
    .enum(LOG_LEVELS)
    .default("info")
    .transform((level) => (isLevel(env.VERDICT_LOG_LEVEL) ? env.VERDICT_LOG_LEVEL : level)),
  tracing: tracingSchema(env).optional(),
});

/** A VERDICT_LOG_LEVEL that names no level is a problem of the configuration, reported with the file's. */
export function checkLogLevel({ env }: ConfigContext, check: z.RefinementCtx): void {
  if (env.VERDICT_LOG_LEVEL !== undefined && !isLevel(env.VERDICT_LOG_LEVEL)) {
    check.addIssue({ code: "custom", path: [], message: `VERDICT_LOG_LEVEL must be one of ${LOG_LEVELS.join(", ")}` });
  }
}
