// The configuration file's shape (YAML or JSON, snake_case keys), validated once at
// start. Everything else in Verdict reads the typed Config built from it.
import { z } from "zod";

/** Asymmetric algorithms only: never "none", never HMAC (a public key is not a secret). */
export const SUPPORTED_ALGORITHMS = ["ES256", "ES384", "ES512", "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "EdDSA"] as const;
export const DEFAULT_ALGORITHMS = ["ES256", "RS256", "PS256", "EdDSA"] as const;
export type Algorithm = (typeof SUPPORTED_ALGORITHMS)[number];

const hostPort = z
  .string()
  .regex(/^(\[[0-9a-fA-F:]+\]|[A-Za-z0-9.-]+):\d{1,5}$/, "must be host:port, e.g. 127.0.0.1:50051");

const issuer = z
  .object({
    issuer: z.string().min(1, "issuer must be the exact iss value of the tokens"),
    jwks_uri: z.url({ protocol: /^https?$/ }).optional(),
    jwks_file: z.string().min(1).optional(),
    algorithms: z.array(z.enum(SUPPORTED_ALGORITHMS)).min(1).default([...DEFAULT_ALGORITHMS]),
  })
  .strict()
  .refine((value) => (value.jwks_uri === undefined) !== (value.jwks_file === undefined), {
    message: "each issuer needs exactly one of jwks_uri or jwks_file",
  });

const api = z
  .object({
    name: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/, "name: letters, digits, '.', '_' or '-', at most 64"),
    audience: z.string().min(1),
    key_sha256: z
      .string()
      .regex(/^[0-9a-f]{64}$/, "key_sha256 must be the lowercase hex SHA-256 of the API's key, never the key itself"),
  })
  .strict();

const apiName = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/, "API names: letters, digits, '.', '_' or '-', at most 64");

/** The audit trail (docs/audit.md): every decision is a record in the `decisions` collection. */
const audit = z
  .object({
    enabled: z.boolean().default(true),
    retention_days: z.number().int().min(1).max(36_500).default(90),
    spill_dir: z.string().min(1).optional(),
    batch_size: z.number().int().min(1).max(10_000).default(500),
    flush_interval_ms: z.number().int().min(1).max(60_000).default(200),
    max_buffered: z.number().int().min(1).max(1_000_000).default(10_000),
    write_timeout_ms: z.number().int().min(50).max(120_000).default(5_000),
    retry_interval_ms: z.number().int().min(50).max(600_000).default(2_000),
    purge_interval_ms: z.number().int().min(1_000).max(86_400_000).default(3_600_000),
    query_grants: z.record(apiName, z.array(z.union([apiName, z.literal("*")])).min(1)).default({}),
  })
  .strict();

export const configFileSchema = z
  .object({
    listen: hostPort.default("127.0.0.1:50051"),
    issuers: z.array(issuer).min(1, "at least one trusted issuer is needed"),
    apis: z.array(api).min(1, "at least one calling API is needed"),
    bundle: z.string().min(1).optional(),
    mongodb_uri: z.string().regex(/^mongodb(\+srv)?:\/\//, "must be a mongodb:// or mongodb+srv:// URI").optional(),
    mongodb_database: z.string().regex(/^[A-Za-z0-9_-]{1,63}$/).default("verdict"),
    state_timeout_ms: z.number().int().min(1).max(60_000).default(50),
    clock_skew_seconds: z.number().int().min(0).max(60).default(60),
    max_token_bytes: z.number().int().min(512).max(65_536).default(8192),
    log_level: z.enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"]).default("info"),
    audit: audit.prefault({}),
  })
  .strict()
  .superRefine((value, ctx) => {
    const names = new Set<string>();
    const audiences = new Set<string>();
    for (const [i, entry] of value.apis.entries()) {
      if (names.has(entry.name)) ctx.addIssue({ code: "custom", path: ["apis", i, "name"], message: `duplicate API name ${entry.name}` });
      if (audiences.has(entry.audience)) ctx.addIssue({ code: "custom", path: ["apis", i, "audience"], message: `two APIs share the audience ${entry.audience}` });
      names.add(entry.name);
      audiences.add(entry.audience);
    }
    for (const [grantee, apis] of Object.entries(value.audit.query_grants)) {
      for (const name of [grantee, ...apis]) {
        if (name !== "*" && !names.has(name)) {
          ctx.addIssue({ code: "custom", path: ["audit", "query_grants", grantee], message: `audit.query_grants names ${name}, which is not in apis` });
        }
      }
    }
    const issuers = new Set<string>();
    for (const [i, entry] of value.issuers.entries()) {
      if (issuers.has(entry.issuer)) ctx.addIssue({ code: "custom", path: ["issuers", i, "issuer"], message: `duplicate issuer ${entry.issuer}` });
      issuers.add(entry.issuer);
    }
  });

export type ConfigFile = z.input<typeof configFileSchema>;
export type ParsedConfigFile = z.output<typeof configFileSchema>;
