// The configuration file's shape (YAML or JSON, snake_case keys), validated once at
// start. Everything else in Verdict reads the typed Config built from it.
import { createHash } from "node:crypto";
import { z } from "zod";

/** Asymmetric algorithms only: never "none", never HMAC (a public key is not a secret). */
export const SUPPORTED_ALGORITHMS = ["ES256", "ES384", "ES512", "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "EdDSA"] as const;
export const DEFAULT_ALGORITHMS = ["ES256", "RS256", "PS256", "EdDSA"] as const;
export type Algorithm = (typeof SUPPORTED_ALGORITHMS)[number];

const hostPort = z
  .string()
  .regex(/^(\[[0-9a-fA-F:]+\]|[A-Za-z0-9.-]+):\d{1,5}$/, "must be host:port, e.g. 127.0.0.1:50051");

const seconds = (fallback: number, max: number) => z.number().int().min(0).max(max).default(fallback);

const introspection = z
  .object({
    endpoint: z.url({ protocol: /^https?$/ }),
    client_id: z.string().min(1),
    /** A file holding Verdict's client secret at the authorization server (a mounted secret). */
    client_secret_file: z.string().min(1),
    timeout_ms: z.number().int().min(50).max(30_000).default(2_000),
    cache_max_seconds: seconds(300, 3_600),
  })
  .strict();

const issuer = z
  .object({
    issuer: z.string().min(1, "issuer must be the exact iss value of the tokens"),
    jwks_uri: z.url({ protocol: /^https?$/ }).optional(),
    jwks_file: z.string().min(1).optional(),
    introspection: introspection.optional(),
    algorithms: z.array(z.enum(SUPPORTED_ALGORITHMS)).min(1).default([...DEFAULT_ALGORITHMS]),
    /** Insecure: also accept typ "JWT" or no typ (tokens from before RFC 9068). */
    allow_typ_jwt: z.boolean().default(false),
    jwks_refresh_seconds: seconds(600, 86_400),
    jwks_stale_grace_seconds: seconds(3_600, 7 * 86_400),
    jwks_cooldown_seconds: seconds(30, 3_600),
    jwks_timeout_ms: z.number().int().min(50).max(30_000).default(3_000),
  })
  .strict()
  .refine((value) => [value.jwks_uri, value.jwks_file, value.introspection].filter((v) => v !== undefined).length === 1, {
    message: "each issuer needs exactly one of jwks_uri, jwks_file or introspection",
  });

/** RFC 6749 §3.3 scope-token. */
const scopeToken = z.string().regex(/^[\x21\x23-\x5b\x5d-\x7e]{1,128}$/, "a scope is 1-128 printable characters without spaces, quotes or backslashes");

const clientCertificate = z
  .object({
    subject_cn: z.string().min(1).optional(),
    dns_san: z.string().min(1).optional(),
    uri_san: z.string().min(1).optional(),
  })
  .strict()
  .refine((value) => value.subject_cn !== undefined || value.dns_san !== undefined || value.uri_san !== undefined, {
    message: "client_certificate needs subject_cn, dns_san or uri_san",
  });

const api = z
  .object({
    name: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/, "name: letters, digits, '.', '_' or '-', at most 64"),
    audience: z.string().min(1),
    key_sha256: z
      .string()
      .regex(/^[0-9a-f]{64}$/, "key_sha256 must be the lowercase hex SHA-256 of the API's key, never the key itself")
      .optional(),
    client_certificate: clientCertificate.optional(),
    /** Every scope this API knows; a token carrying another is refused (unknown_scope). */
    scopes: z.array(scopeToken).min(1, "each API declares the scopes it knows"),
    /** Insecure when "ignore": unknown scopes are dropped instead of refused. */
    unknown_scopes: z.enum(["deny", "ignore"]).default("deny"),
  })
  .strict()
  .refine((value) => value.key_sha256 !== undefined || value.client_certificate !== undefined, {
    message: "each API needs a way to authenticate: key_sha256, client_certificate, or both",
  });

const tls = z
  .object({
    cert_file: z.string().min(1),
    key_file: z.string().min(1),
    /** Turns on mutual TLS: every caller presents a certificate issued by this CA. */
    client_ca_file: z.string().min(1).optional(),
  })
  .strict();

const LOOPBACK = new Set(["127.0.0.1", "localhost", "::1", "[::1]"]);

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

/** A property name: where an AuthZEN PEP puts the user's access token. */
const propertyName = z.string().regex(/^[A-Za-z_][A-Za-z0-9_.-]{0,63}$/, "a property name: letters, digits, '_', '.', '-', at most 64");

/** How one registered API may use the AuthZEN listener (docs/authzen.md). */
const authzenApi = z
  .object({
    name: apiName,
    /** Without a token, take the PEP's word for who the subject is. Off by default; logged at start. */
    trust_asserted_subjects: z.boolean().default(false),
    /** Where the PEP forwards the user's access token, if it does: verified exactly as for Check. */
    token: z
      .object({ in: z.enum(["subject.properties", "context"]), property: propertyName.default("access_token") })
      .strict()
      .optional(),
    /** "reasons": a false decision carries its reason codes (and step-up hints) in `context`; "none": bare decisions. */
    decision_context: z.enum(["reasons", "none"]).default("reasons"),
  })
  .strict();

/** The AuthZEN Authorization API 1.0 listener (docs/authzen.md). Absent: not served. */
const authzen = z
  .object({
    listen: hostPort.default("127.0.0.1:8443"),
    tls: tls.optional(),
    /** Serve TLS with a self-signed certificate created under VERDICT_HOME on first start (development). */
    dev_certificate: z.boolean().default(false),
    /** Insecure: plain HTTP (API keys and tokens in clear). */
    insecure_plaintext: z.boolean().default(false),
    /** The PDP identifier published in the metadata; default: the scheme and Host the request came to. */
    base_url: z
      .url({ protocol: /^https?$/ })
      .refine((url) => !/[?#]/.test(url) && !url.endsWith("/") && new URL(url).pathname === "/", "base_url is scheme://host[:port]: no path, query, fragment or trailing slash")
      .optional(),
    apis: z.array(authzenApi).min(1, "name at least one API that may call the AuthZEN listener"),
    /** A development key written in clear (it must hash to a listed API's key_sha256); logged as insecure. */
    dev_api_key: z.string().min(16).max(512).optional(),
    /** Directory files (subjects, resources, actions) loaded into the directory at start. */
    directory: z.array(z.string().min(1)).default([]),
    search: z
      .object({
        page_size: z.number().int().min(1).max(10_000).default(100),
        max_page_size: z.number().int().min(1).max(10_000).default(1_000),
        /** Candidates one search request evaluates at most; the rest is for the next page. */
        max_candidates: z.number().int().min(1).max(100_000).default(1_000),
        /** Deadline of one directory read of a search. */
        read_timeout_ms: z.number().int().min(1).max(60_000).default(2_000),
      })
      .strict()
      .prefault({}),
    max_body_bytes: z.number().int().min(1_024).max(16 * 1024 * 1024).default(256 * 1024),
  })
  .strict();

export const configFileSchema = z
  .object({
    listen: hostPort.default("127.0.0.1:50051"),
    tls: tls.optional(),
    /** Insecure: serve without TLS on a non-loopback address (API keys travel in clear). */
    insecure_plaintext: z.boolean().default(false),
    /** Empty only when every decision is about PEP-asserted subjects (AuthZEN): checked below. */
    issuers: z.array(issuer).default([]),
    apis: z.array(api).min(1, "at least one calling API is needed"),
    bundle: z.string().min(1).optional(),
    bundle_watch: z.boolean().default(true),
    shadow_bundle: z.string().min(1).optional(),
    shadow_wait_ms: z.number().int().min(0).max(1_000).default(5),
    shadow_retention_days: z.number().int().min(1).max(365).default(7),
    policy_timeout_ms: z.number().int().min(1).max(60_000).default(250),
    policy_memory_mb: z.number().int().min(1).max(4_096).default(64),
    policy_workers: z.number().int().min(1).max(64).default(2),
    metrics_listen: hostPort.optional(),
    mongodb_uri: z.string().regex(/^mongodb(\+srv)?:\/\//, "must be a mongodb:// or mongodb+srv:// URI").optional(),
    mongodb_database: z.string().regex(/^[A-Za-z0-9_-]{1,63}$/).default("verdict"),
    state_timeout_ms: z.number().int().min(1).max(60_000).default(50),
    clock_skew_seconds: z.number().int().min(0).max(60).default(60),
    max_token_bytes: z.number().int().min(512).max(65_536).default(8192),
    token_cache_entries: z.number().int().min(0).max(1_000_000).default(10_000),
    dpop_max_age_seconds: z.number().int().min(1).max(3_600).default(120),
    max_batch_items: z.number().int().min(1).max(1_000).default(100),
    log_level: z.enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"]).default("info"),
    audit: audit.prefault({}),
    authzen: authzen.optional(),
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
    if (value.issuers.filter((entry) => entry.introspection).length > 1) {
      ctx.addIssue({ code: "custom", path: ["issuers"], message: "at most one issuer may use introspection (opaque tokens carry no issuer to choose by)" });
    }
    const mutualTls = value.tls?.client_ca_file !== undefined;
    for (const [i, entry] of value.apis.entries()) {
      if (entry.client_certificate && !mutualTls && value.authzen?.tls?.client_ca_file === undefined) {
        ctx.addIssue({ code: "custom", path: ["apis", i, "client_certificate"], message: "client_certificate needs tls.client_ca_file (mutual TLS)" });
      }
      if (mutualTls && !entry.client_certificate) {
        ctx.addIssue({ code: "custom", path: ["apis", i], message: "with mutual TLS every API needs a client_certificate identity" });
      }
    }
    if (value.issuers.length === 0 && !value.authzen?.apis.some((entry) => entry.trust_asserted_subjects)) {
      ctx.addIssue({ code: "custom", path: ["issuers"], message: "at least one trusted issuer is needed" });
    }
    if (value.authzen) checkAuthzen(value.authzen, value.apis, ctx);
    const host = value.listen.slice(0, value.listen.lastIndexOf(":"));
    if (!value.tls && !value.insecure_plaintext && !LOOPBACK.has(host)) {
      ctx.addIssue({
        code: "custom",
        path: ["listen"],
        message: "listening beyond loopback without tls would send API keys and tokens in clear: configure tls, or set insecure_plaintext: true if a mesh encrypts the hop",
      });
    }
  });

function checkAuthzen(value: z.output<typeof authzen>, apis: z.output<typeof api>[], ctx: z.RefinementCtx): void {
  const at = (...path: (string | number)[]) => ["authzen", ...path];
  const seen = new Set<string>();
  for (const [i, entry] of value.apis.entries()) {
    const registered = apis.find((candidate) => candidate.name === entry.name);
    if (!registered) ctx.addIssue({ code: "custom", path: at("apis", i, "name"), message: `authzen.apis names ${entry.name}, which is not in apis` });
    if (seen.has(entry.name)) ctx.addIssue({ code: "custom", path: at("apis", i, "name"), message: `authzen.apis lists ${entry.name} twice` });
    seen.add(entry.name);
    if (value.tls?.client_ca_file !== undefined && registered && !registered.client_certificate) {
      ctx.addIssue({ code: "custom", path: at("apis", i), message: `with mutual TLS on the AuthZEN listener, API ${entry.name} needs a client_certificate identity` });
    }
  }
  if (value.tls && value.dev_certificate) ctx.addIssue({ code: "custom", path: at("dev_certificate"), message: "give tls or dev_certificate, not both" });
  if ((value.tls || value.dev_certificate) && value.insecure_plaintext) {
    ctx.addIssue({ code: "custom", path: at("insecure_plaintext"), message: "insecure_plaintext means no TLS: drop it, or drop tls/dev_certificate" });
  }
  if (value.search.page_size > value.search.max_page_size) {
    ctx.addIssue({ code: "custom", path: at("search", "page_size"), message: "page_size is larger than max_page_size" });
  }
  if (value.dev_api_key !== undefined) {
    const hash = createHash("sha256").update(value.dev_api_key, "utf8").digest("hex");
    const owner = apis.find((candidate) => candidate.key_sha256 === hash);
    if (!owner || !value.apis.some((entry) => entry.name === owner.name)) {
      ctx.addIssue({ code: "custom", path: at("dev_api_key"), message: "dev_api_key must be the key of an API listed in authzen.apis (its SHA-256 in key_sha256)" });
    }
  }
}

export type ConfigFile = z.input<typeof configFileSchema>;
export type ParsedConfigFile = z.output<typeof configFileSchema>;
