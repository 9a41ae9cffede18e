// The token section of the configuration: trusted issuers and token limits.
import { z } from "zod";
import { ALWAYS, entries, filePath, readSecretFile, seconds, type ConfigContext } from "../config/fields.js";

/** Asymmetric algorithms only: never "none", never HMAC (a public key is not a secret). */
export const SUPPORTED_ALGORITHMS = ["ES256", "ES384", "ES512", "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "EdDSA"] as const;
export const DEFAULT_ALGORITHMS = ["ES256", "RS256", "PS256", "EdDSA"] as const;
export type Algorithm = (typeof SUPPORTED_ALGORITHMS)[number];

const introspection = (ctx: ConfigContext) =>
  z
    .object({
      endpoint: z.url({ protocol: /^https?$/ }),
      client_id: z.string().min(1),
      /** A file holding Verdict's client secret at the authorization server (a mounted secret), read at start. */
      client_secret_file: filePath(ctx),
      timeout_ms: z.number().int().min(50).max(30_000).default(2_000),
      cache_max_seconds: seconds(300, 3_600),
    })
    .strict()
    .transform(({ client_secret_file, ...rest }, check) => ({
      ...rest,
      client_secret: readSecretFile(client_secret_file, (message) => check.addIssue({ code: "custom", message, path: ["client_secret_file"] })),
    }));

export const issuerSchema = (ctx: ConfigContext) =>
  z
    .object({
      issuer: z.string().min(1, "issuer must be the exact iss value of the tokens"),
      jwks_uri: z.url({ protocol: /^https?$/ }).optional(),
      jwks_file: filePath(ctx).optional(),
      introspection: introspection(ctx).optional(),
      algorithms: z
        .array(z.enum(SUPPORTED_ALGORITHMS))
        .min(1)
        .default([...DEFAULT_ALGORITHMS])
        .transform((algorithms) => [...new Set(algorithms)]),
      /** Insecure: also accept typ "JWT" or no typ (tokens from before RFC 9068). */
      allow_typ_jwt: z.boolean().default(false),
      jwks_refresh_seconds: seconds(600, 86_400),
      jwks_stale_grace_seconds: seconds(3_600, 7 * 86_400),
      jwks_cooldown_seconds: seconds(30, 3_600),
      jwks_timeout_ms: z.number().int().min(50).max(30_000).default(3_000),
    })
    .strict()
    .refine(
      (value) =>
        typeof value !== "object" || value === null || [value.jwks_uri, value.jwks_file, value.introspection].filter((v) => v !== undefined).length === 1,
      {
        message: "each issuer needs exactly one of jwks_uri, jwks_file or introspection",
        ...ALWAYS,
      },
    );

export type IssuerConfig = z.output<ReturnType<typeof issuerSchema>>;

/** The largest `clock_skew_seconds`: a token is accepted at most this long after its `exp` (single-use keys are kept as long: obligations/once.ts). */
export const MAX_CLOCK_SKEW_SECONDS = 60;

/** The token section's top-level keys. */
export const tokenSettings = (ctx: ConfigContext) => ({
  /** Empty only when every decision is about PEP-asserted subjects (AuthZEN): checked by checkAuthzen. */
  issuers: z.array(issuerSchema(ctx)).default([]),
  clock_skew_seconds: z.number().int().min(0).max(MAX_CLOCK_SKEW_SECONDS).default(MAX_CLOCK_SKEW_SECONDS),
  max_token_bytes: z.number().int().min(512).max(65_536).default(8192),
  /** A token whose exp is further than this from now (or from its iat) is refused: no key outlives a sane token. */
  max_token_lifetime_seconds: z
    .number()
    .int()
    .min(60)
    .max(30 * 86_400)
    .default(86_400),
  token_cache_entries: z.number().int().min(0).max(1_000_000).default(10_000),
  dpop_max_age_seconds: z.number().int().min(1).max(3_600).default(120),
});

/** Rules across issuers: each once; at most one for opaque tokens (they carry no issuer to choose by). */
export function checkIssuers(value: Record<string, unknown>, check: z.RefinementCtx): void {
  const issuers = entries(value["issuers"]);
  const seen = new Set<unknown>();
  for (const [i, entry] of issuers.entries()) {
    if (seen.has(entry["issuer"])) check.addIssue({ code: "custom", path: ["issuers", i, "issuer"], message: `duplicate issuer ${String(entry["issuer"])}` });
    seen.add(entry["issuer"]);
  }
  if (issuers.filter((entry) => entry["introspection"] !== undefined).length > 1) {
    check.addIssue({ code: "custom", path: ["issuers"], message: "at most one issuer may use introspection (opaque tokens carry no issuer to choose by)" });
  }
}
