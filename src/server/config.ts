// The server section of the configuration: where Verdict listens, TLS, and the
// APIs allowed to call it.
import { createHash } from "node:crypto";
import { z } from "zod";
import { ALWAYS, apiName, entries, hostPort, tlsSchema, type ConfigContext } from "../config/fields.js";
import { authzenMutualTls } from "./authzen/config.js";
import { isLoopback } from "./loopback.js";

/** RFC 6749 §3.3 scope-token. */
const scopeToken = z.string().regex(/^[\x21\x23-\x5b\x5d-\x7e]{1,128}$/, "a scope is 1-128 printable characters without spaces, quotes or backslashes");

const clientCertificate = z
  .object({
    subject_cn: z.string().min(1).optional(),
    dns_san: z.string().min(1).optional(),
    uri_san: z.string().min(1).optional(),
  })
  .strict()
  .refine(
    (value) => typeof value !== "object" || value === null || value.subject_cn !== undefined || value.dns_san !== undefined || value.uri_san !== undefined,
    {
      message: "client_certificate needs subject_cn, dns_san or uri_san",
      ...ALWAYS,
    },
  );

export type ClientCertificateIdentity = z.output<typeof clientCertificate>;

/**
 * A bound on open gRPC connections: an idle HTTP/2 connection costs a serving process
 * about 24 kB, so 4,096 hold about 100 MB, and a client opening connections without end
 * cannot take the memory the open ones are served with. Two a calling API replica (the
 * SDK's), for about 2,000 replicas of the APIs a Verdict serves.
 */
export const DEFAULT_MAX_CONNECTIONS = 4_096;

/** What an API may do beyond deciding (apis[].grants): each issue that adds a privileged service adds its grant here. */
export const API_GRANTS = [
  "suspensions", // AdminService Suspend, Resume, List; suspension events in AuditService (docs/suspensions.md)
  "approvals", // ApprovalService List, Get, Approve, Refuse; approval events in AuditService (docs/approvals.md)
] as const;
export type ApiGrant = (typeof API_GRANTS)[number];

/** SHA-256 of keys anyone would try first: an example's hash copied as it is, or a key chosen for a test. */
const WELL_KNOWN_KEYS: ReadonlySet<string> = new Set(
  ["", "password", "secret", "changeme", "test", "admin", "123456", "verdict", "key", "apikey", "api-key"].map((key) =>
    createHash("sha256").update(key).digest("hex"),
  ),
);

const api = z
  .object({
    name: apiName("name: letters, digits, '.', '_' or '-', at most 64"),
    audience: z.string().min(1),
    /** Lowercase hex SHA-256 of the API's key; the key itself is never stored. */
    key_sha256: z
      .string()
      .regex(/^[0-9a-f]{64}$/, "key_sha256 must be the lowercase hex SHA-256 of the API's key, never the key itself")
      .refine((hash) => !WELL_KNOWN_KEYS.has(hash), 'key_sha256 is the SHA-256 of a well-known key (such as "password"): give the API a random key')
      .optional(),
    client_certificate: clientCertificate.optional(),
    /** Every scope this API knows; a token carrying another is refused (unknown_scope). */
    scopes: z
      .array(scopeToken)
      .min(1, "each API declares the scopes it knows")
      .transform((scopes) => [...new Set(scopes)]),
    /** Insecure when "ignore": unknown scopes are dropped instead of refused. */
    unknown_scopes: z.enum(["deny", "ignore"]).default("deny"),
    /** Privileged services this API may call (a call without the grant is PERMISSION_DENIED). */
    grants: z
      .array(z.enum(API_GRANTS))
      .default([])
      .transform((grants) => [...new Set(grants)]),
  })
  .strict()
  .refine((value) => typeof value !== "object" || value === null || value.key_sha256 !== undefined || value.client_certificate !== undefined, {
    message: "each API needs a way to authenticate: key_sha256, client_certificate, or both",
    ...ALWAYS,
  });

export type ApiConfig = z.output<typeof api>;

export type TlsConfig = z.output<ReturnType<typeof tlsSchema>>;

export const serverSettings = (ctx: ConfigContext) => ({
  listen: hostPort.prefault("127.0.0.1:50051"),
  tls: tlsSchema(ctx).optional(),
  /** Insecure: serve without TLS on a non-loopback address (API keys travel in clear). */
  insecure_plaintext: z.boolean().default(false),
  apis: z.array(api).min(1, "at least one calling API is needed"),
  /** Items a CheckBatch may hold. */
  max_batch_items: z.number().int().min(1).max(1_000).default(100),
  /** context and resource.attributes of a Check, each, as JSON; larger is INVALID_ARGUMENT. */
  max_context_bytes: z.number().int().min(1_024).max(262_144).default(32_768),
  /** The admin HTTP listener: GET /healthz, /readyz and /metrics (docs/operations.md). */
  admin_listen: hostPort.prefault("127.0.0.1:9464"),
  /** A client connection is closed (GOAWAY) after about this long, so long-lived clients rebalance across replicas. */
  max_connection_age_seconds: z.number().int().min(1).max(86_400).default(300),
  /** Connections the gRPC listener keeps open at once (every process of one Verdict together); one more is closed at once. */
  max_connections: z.number().int().min(1).max(1_000_000).default(DEFAULT_MAX_CONNECTIONS),
  /** Calls in flight on one gRPC connection at most (HTTP/2's SETTINGS_MAX_CONCURRENT_STREAMS): a client's next call waits for one to end. */
  max_concurrent_streams: z.number().int().min(1).max(100_000).default(1_000),
  /** A gRPC call's request (its message and end) arrives within this of its headers, or the call ends DEADLINE_EXCEEDED. */
  request_timeout_ms: z.number().int().min(1_000).max(300_000).default(10_000),
  /** How long calls in flight on a connection past its age may take before it is closed. */
  max_connection_age_grace_seconds: z.number().int().min(1).max(3_600).default(30),
  /** Processes `verdict serve` runs, all serving the same ports: "auto" is one per CPU, at most 8 (docs/performance.md). */
  processes: z.union([z.literal("auto"), z.number().int().min(1).max(64)]).default("auto"),
  /** Renamed: a file that still has it is told the new name. */
  metrics_listen: z.never({ error: "metrics_listen is now admin_listen (GET /metrics, /healthz and /readyz on one listener)" }).optional(),
});

/** Rules across APIs and the listeners. */
export function checkServer(value: Record<string, unknown>, check: z.RefinementCtx, profile: ConfigContext["profile"] = "production"): void {
  const apis = entries(value["apis"]);
  for (const [field, describe] of [
    ["name", (v: unknown) => `duplicate API name ${String(v)}`],
    ["audience", (v: unknown) => `two APIs share the audience ${String(v)}`],
    ["key_sha256", () => "two APIs share one key_sha256: a key must name exactly one API"],
  ] as const) {
    const seen = new Set<unknown>();
    for (const [i, entry] of apis.entries()) {
      const v = entry[field];
      if (v === undefined) continue;
      if (seen.has(v)) check.addIssue({ code: "custom", path: ["apis", i, field], message: describe(v) });
      seen.add(v);
    }
  }
  const tlsSection = value["tls"];
  const mutualTls = typeof tlsSection === "object" && tlsSection !== null && "client_ca_file" in tlsSection && tlsSection.client_ca_file !== undefined;
  for (const [i, entry] of apis.entries()) {
    // A certificate identity is for a listener with mutual TLS: gRPC's, or the AuthZEN listener's.
    if (entry["client_certificate"] !== undefined && !mutualTls && !authzenMutualTls(value)) {
      check.addIssue({ code: "custom", path: ["apis", i, "client_certificate"], message: "client_certificate needs tls.client_ca_file (mutual TLS)" });
    }
    if (mutualTls && entry["client_certificate"] === undefined) {
      check.addIssue({ code: "custom", path: ["apis", i], message: "with mutual TLS every API needs a client_certificate identity" });
    }
  }
  if (tlsSection === undefined && value["insecure_plaintext"] !== true && !isLoopback(listenHost(value["listen"]))) {
    check.addIssue({
      code: "custom",
      path: ["listen"],
      message:
        "listening beyond loopback without tls would send API keys and tokens in clear: configure tls, or set insecure_plaintext: true if a mesh encrypts the hop",
    });
  }
  // The development console gives every console scope to anyone who reaches the admin listener (its development sign-in).
  if (profile === "dev" && !isLoopback(listenHost(value["admin_listen"]))) {
    check.addIssue({
      code: "custom",
      path: ["admin_listen"],
      message: "the development profile's console signs in anyone who reaches it: keep admin_listen on loopback (127.0.0.1, [::1] or localhost)",
    });
  }
}

/** The host of `listen` (or `admin_listen`), whether it is still the string or already {host, port}. */
function listenHost(listen: unknown): string {
  if (listen === undefined) return "127.0.0.1";
  // A malformed address has its own problem reported; it is not judged here.
  if (typeof listen === "string") return /:\d{1,5}$/.test(listen) ? listen.slice(0, listen.lastIndexOf(":")) : "127.0.0.1";
  if (typeof listen === "object" && listen !== null && "host" in listen && typeof listen.host === "string") return listen.host;
  return "";
}
