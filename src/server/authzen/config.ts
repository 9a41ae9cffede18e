// The authzen section of the configuration: the AuthZEN Authorization API 1.0
// listener (docs/authzen.md). Absent: not served. Its output keeps the file's keys
// and adds `transport`, how the listener is secured, decided once here.
import { createHash } from "node:crypto";
import { z } from "zod";
import { apiName, entries, filePath, hostPort, stateDirFrom, tlsSchema, type ConfigContext } from "../../config/fields.js";

/** A property name: where an AuthZEN PEP puts the user's access token. */
const propertyName = z.string().regex(/^[A-Za-z_][A-Za-z0-9_.-]{0,63}$/, "a property name: letters, digits, '_', '.', '-', at most 64");

/** How one registered API may use the AuthZEN listener. */
const authzenApi = z
  .object({
    name: apiName("API names: letters, digits, '.', '_' or '-', at most 64"),
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

export type AuthzenApiConfig = z.output<typeof authzenApi>;

/** authzen.search.read_timeout_ms by default: the deadline of one directory read of a search. */
export const DEFAULT_SEARCH_READ_TIMEOUT_MS = 2_000;

export const authzenSchema = (ctx: ConfigContext) =>
  z
    .object({
      listen: hostPort.prefault("127.0.0.1:8443"),
      tls: tlsSchema(ctx).optional(),
      /** Serve TLS with a self-signed certificate created under VERDICT_HOME on first start (development). */
      dev_certificate: z.boolean().default(false),
      /** Insecure: plain HTTP (API keys and tokens in clear). */
      insecure_plaintext: z.boolean().default(false),
      /** The PDP identifier published in the metadata; default: the scheme and Host the request came to. */
      base_url: z
        .url({ protocol: /^https?$/ })
        .refine(
          (url) => !/[?#]/.test(url) && !url.endsWith("/") && new URL(url).pathname === "/",
          "base_url is scheme://host[:port]: no path, query, fragment or trailing slash",
        )
        .optional(),
      apis: z.array(authzenApi).min(1, "name at least one API that may call the AuthZEN listener"),
      /** A development key written in clear (it must hash to a listed API's key_sha256); logged as insecure. */
      dev_api_key: z.string().min(16).max(512).optional(),
      /** Directory files (subjects, resources, actions) loaded into the directory at start. */
      directory: z.array(filePath(ctx)).default([]),
      search: z
        .object({
          page_size: z.number().int().min(1).max(10_000).default(100),
          max_page_size: z.number().int().min(1).max(10_000).default(1_000),
          /** Candidates one search request evaluates at most; the rest is for the next page. */
          max_candidates: z.number().int().min(1).max(100_000).default(1_000),
          /** Deadline of one directory read of a search. */
          read_timeout_ms: z.number().int().min(1).max(60_000).default(DEFAULT_SEARCH_READ_TIMEOUT_MS),
        })
        .strict()
        .prefault({}),
      max_body_bytes: z
        .number()
        .int()
        .min(1_024)
        .max(16 * 1024 * 1024)
        .default(256 * 1024),
      /** Connections open at most, every process of a Verdict together; one more is closed as soon as it is accepted. */
      max_connections: z.number().int().min(1).max(1_000_000).default(4_096),
      /** The time a request's headers and body have to arrive in, from its first byte; later: 408 request_timeout, the connection closed. */
      request_timeout_ms: z.number().int().min(1_000).max(300_000).default(10_000),
    })
    .strict()
    .transform((value, check) => {
      const transport = transportOf(value, ctx);
      if (!transport) {
        check.addIssue({
          code: "custom",
          path: [],
          message: "authzen: give tls (or dev_certificate for development); plain HTTP needs insecure_plaintext: true",
        });
        return z.NEVER;
      }
      return { ...value, transport };
    });

export type AuthzenConfig = z.output<ReturnType<typeof authzenSchema>>;

/** `stateDir`: where the development certificate is kept (VERDICT_HOME, else .verdict/). */
type Transport = { kind: "tls"; tls: z.output<ReturnType<typeof tlsSchema>> } | { kind: "dev_certificate"; stateDir: string } | { kind: "plaintext" };

/** Configured TLS, a development certificate, or (insecure, or the dev profile) none; undefined: not said. */
function transportOf(
  value: { tls?: z.output<ReturnType<typeof tlsSchema>> | undefined; dev_certificate: boolean; insecure_plaintext: boolean },
  ctx: ConfigContext,
): Transport | undefined {
  if (value.tls) return { kind: "tls", tls: value.tls };
  if (value.dev_certificate) return { kind: "dev_certificate", stateDir: stateDirFrom(ctx.env) };
  if (value.insecure_plaintext || ctx.profile === "dev") return { kind: "plaintext" };
  return undefined;
}

/** True when the AuthZEN listener asks callers for client certificates (mutual TLS). */
export function authzenMutualTls(value: Record<string, unknown>): boolean {
  const section = value["authzen"];
  if (typeof section !== "object" || section === null || !("tls" in section)) return false;
  const tls = section.tls;
  return typeof tls === "object" && tls !== null && "client_ca_file" in tls && tls.client_ca_file !== undefined;
}

/**
 * Rules across the authzen section and the rest: every API it names is a registered
 * one, once; with its mutual TLS each has a certificate identity; issuers may be
 * empty only when some API vouches for its own subjects.
 */
export function checkAuthzen(value: Record<string, unknown>, check: z.RefinementCtx): void {
  const section = typeof value["authzen"] === "object" && value["authzen"] !== null ? (value["authzen"] as Record<string, unknown>) : undefined;
  const authzenApis = entries(section?.["apis"]);
  const issuers = value["issuers"];
  const noIssuer = issuers === undefined || (Array.isArray(issuers) && issuers.length === 0);
  if (noIssuer && !authzenApis.some((entry) => entry["trust_asserted_subjects"] === true)) {
    check.addIssue({ code: "custom", path: ["issuers"], message: "at least one trusted issuer is needed" });
  }
  if (!section) return;
  const apis = entries(value["apis"]);
  const at = (...path: (string | number)[]) => ["authzen", ...path];
  const seen = new Set<unknown>();
  const mutualTls = authzenMutualTls(value);
  for (const [i, entry] of authzenApis.entries()) {
    const registered = apis.find((candidate) => candidate["name"] === entry["name"]);
    if (!registered)
      check.addIssue({ code: "custom", path: at("apis", i, "name"), message: `authzen.apis names ${String(entry["name"])}, which is not in apis` });
    if (seen.has(entry["name"])) check.addIssue({ code: "custom", path: at("apis", i, "name"), message: `authzen.apis lists ${String(entry["name"])} twice` });
    seen.add(entry["name"]);
    if (mutualTls && registered && registered["client_certificate"] === undefined) {
      check.addIssue({
        code: "custom",
        path: at("apis", i),
        message: `with mutual TLS on the AuthZEN listener, API ${String(entry["name"])} needs a client_certificate identity`,
      });
    }
  }
  const tls = section["tls"] !== undefined;
  const devCertificate = section["dev_certificate"] === true;
  if (tls && devCertificate) check.addIssue({ code: "custom", path: at("dev_certificate"), message: "give tls or dev_certificate, not both" });
  if ((tls || devCertificate) && section["insecure_plaintext"] === true) {
    check.addIssue({ code: "custom", path: at("insecure_plaintext"), message: "insecure_plaintext means no TLS: drop it, or drop tls/dev_certificate" });
  }
  const search = section["search"];
  if (typeof search === "object" && search !== null && "page_size" in search && "max_page_size" in search) {
    if (typeof search.page_size === "number" && typeof search.max_page_size === "number" && search.page_size > search.max_page_size) {
      check.addIssue({ code: "custom", path: at("search", "page_size"), message: "page_size is larger than max_page_size" });
    }
  }
  const devApiKey = section["dev_api_key"];
  if (typeof devApiKey === "string") {
    const hash = createHash("sha256").update(devApiKey, "utf8").digest("hex");
    const owner = apis.find((candidate) => candidate["key_sha256"] === hash);
    if (!owner || !authzenApis.some((entry) => entry["name"] === owner["name"])) {
      check.addIssue({
        code: "custom",
        path: at("dev_api_key"),
        message: "dev_api_key must be the key of an API listed in authzen.apis (its SHA-256 in key_sha256)",
      });
    }
  }
}

/** The authzen section's top-level key. */
export const authzenSettings = (ctx: ConfigContext) => ({
  authzen: authzenSchema(ctx).optional(),
});
