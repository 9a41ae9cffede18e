import { readFileSync } from "node:fs";
import { dirname, isAbsolute, join, resolve } from "node:path";
import { parse as parseYaml } from "yaml";
import { z } from "zod";
import { defaultBundlePath, packageRoot } from "../paths.js";
import { configFileSchema, type ParsedConfigFile } from "./schema.js";
import type { AuthzenConfig, Config } from "./types.js";

/** A configuration that cannot be used; the message says what to change. */
export class ConfigError extends Error {
  readonly code = "ERR_VERDICT_CONFIG";
  constructor(message: string) {
    super(message);
    this.name = "ConfigError";
  }
}

/** The environment variables Verdict reads, all of them, here and nowhere else. */
export interface Environment {
  MONGODB_URI?: string;
  VERDICT_HOME?: string;
  VERDICT_LOG_LEVEL?: string;
}

export interface BuildOptions {
  /** Relative paths in the file (jwks_file, bundle) are resolved from here. */
  baseDir: string;
  env: Environment;
  profile?: Config["profile"];
}

export function stateDirFrom(env: Environment): string {
  return env.VERDICT_HOME ? resolve(env.VERDICT_HOME) : join(packageRoot, ".verdict");
}

/** Reads a YAML or JSON configuration file and validates it. */
export function loadConfigFile(path: string, env: Environment): Config {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (error) {
    throw new ConfigError(`cannot read configuration ${path}: ${(error as Error).message}`);
  }
  let raw: unknown;
  try {
    raw = parseYaml(text); // YAML is a superset of JSON
  } catch (error) {
    throw new ConfigError(`configuration ${path} is not valid YAML or JSON: ${(error as Error).message}`);
  }
  return buildConfig(raw, { baseDir: dirname(resolve(path)), env });
}

/** Validates a configuration object (from a file or a profile) into the typed Config. */
export function buildConfig(raw: unknown, options: BuildOptions): Config {
  const parsed = configFileSchema.safeParse(raw);
  if (!parsed.success) {
    throw new ConfigError(`invalid configuration:\n${z.prettifyError(parsed.error)}`);
  }
  return toConfig(parsed.data, options);
}

function readSecret(path: string): string {
  let secret: string;
  try {
    secret = readFileSync(path, "utf8").trim();
  } catch (error) {
    throw new ConfigError(`cannot read secret file ${path}: ${(error as NodeJS.ErrnoException).code ?? "error"}`);
  }
  if (secret === "") throw new ConfigError(`secret file ${path} is empty`);
  return secret;
}

function toConfig(file: ParsedConfigFile, { baseDir, env, profile = "production" }: BuildOptions): Config {
  const at = (path: string) => (isAbsolute(path) ? path : resolve(baseDir, path));
  const separator = file.listen.lastIndexOf(":");
  const port = Number(file.listen.slice(separator + 1));
  if (port > 65_535) throw new ConfigError(`listen: port ${port} is out of range`);
  const logLevel = env.VERDICT_LOG_LEVEL ?? file.log_level;
  const levels = configFileSchema.shape.log_level.unwrap().options as readonly string[];
  if (!levels.includes(logLevel)) throw new ConfigError(`VERDICT_LOG_LEVEL must be one of ${levels.join(", ")}`);
  return {
    profile,
    listen: { host: file.listen.slice(0, separator).replace(/^\[|\]$/g, ""), port },
    ...(file.tls
      ? {
          tls: {
            certFile: at(file.tls.cert_file),
            keyFile: at(file.tls.key_file),
            ...(file.tls.client_ca_file !== undefined ? { clientCaFile: at(file.tls.client_ca_file) } : {}),
          },
        }
      : {}),
    insecurePlaintext: file.insecure_plaintext,
    issuers: file.issuers.map((entry) => ({
      issuer: entry.issuer,
      ...(entry.jwks_uri !== undefined ? { jwksUri: entry.jwks_uri } : {}),
      ...(entry.jwks_file !== undefined ? { jwksFile: at(entry.jwks_file) } : {}),
      ...(entry.introspection
        ? {
            introspection: {
              endpoint: entry.introspection.endpoint,
              clientId: entry.introspection.client_id,
              clientSecret: readSecret(at(entry.introspection.client_secret_file)),
              timeoutMs: entry.introspection.timeout_ms,
              cacheMaxSeconds: entry.introspection.cache_max_seconds,
            },
          }
        : {}),
      algorithms: [...new Set(entry.algorithms)],
      allowUntypedJwt: entry.allow_typ_jwt,
      jwks: {
        refreshSeconds: entry.jwks_refresh_seconds,
        staleGraceSeconds: entry.jwks_stale_grace_seconds,
        cooldownSeconds: entry.jwks_cooldown_seconds,
        timeoutMs: entry.jwks_timeout_ms,
      },
    })),
    apis: file.apis.map((entry) => ({
      name: entry.name,
      audience: entry.audience,
      ...(entry.key_sha256 !== undefined ? { keySha256: entry.key_sha256 } : {}),
      ...(entry.client_certificate
        ? {
            clientCertificate: {
              ...(entry.client_certificate.subject_cn !== undefined ? { subjectCn: entry.client_certificate.subject_cn } : {}),
              ...(entry.client_certificate.dns_san !== undefined ? { dnsSan: entry.client_certificate.dns_san } : {}),
              ...(entry.client_certificate.uri_san !== undefined ? { uriSan: entry.client_certificate.uri_san } : {}),
            },
          }
        : {}),
      scopes: [...new Set(entry.scopes)],
      unknownScopes: entry.unknown_scopes,
    })),
    bundlePath: file.bundle !== undefined ? at(file.bundle) : defaultBundlePath,
    maxBatchItems: file.max_batch_items,
    policy: {
      watch: file.bundle_watch,
      shadowBundlePath: file.shadow_bundle !== undefined ? at(file.shadow_bundle) : undefined,
      shadowWaitMs: file.shadow_wait_ms,
      shadowRetentionDays: file.shadow_retention_days,
      timeoutMs: file.policy_timeout_ms,
      memoryMb: file.policy_memory_mb,
      workers: file.policy_workers,
    },
    metricsListen: file.metrics_listen !== undefined ? hostAndPort(file.metrics_listen, "metrics_listen") : undefined,
    mongo: {
      uri: file.mongodb_uri ?? (env.MONGODB_URI || undefined),
      database: file.mongodb_database,
      timeoutMs: file.state_timeout_ms,
    },
    token: {
      clockSkewSeconds: file.clock_skew_seconds,
      maxBytes: file.max_token_bytes,
      cacheEntries: file.token_cache_entries,
      dpopMaxAgeSeconds: file.dpop_max_age_seconds,
    },
    logLevel: logLevel as Config["logLevel"],
    audit: {
      enabled: file.audit.enabled,
      retentionDays: file.audit.retention_days,
      spillDir: file.audit.spill_dir !== undefined ? at(file.audit.spill_dir) : join(stateDirFrom(env), "audit-spill"),
      batchSize: file.audit.batch_size,
      flushIntervalMs: file.audit.flush_interval_ms,
      maxBuffered: file.audit.max_buffered,
      writeTimeoutMs: file.audit.write_timeout_ms,
      retryIntervalMs: file.audit.retry_interval_ms,
      purgeIntervalMs: file.audit.purge_interval_ms,
      queryGrants: file.audit.query_grants,
    },
    stateDir: stateDirFrom(env),
    ...(file.authzen ? { authzen: toAuthzenConfig(file.authzen, profile, at) } : {}),
  };
}

function toAuthzenConfig(file: NonNullable<ParsedConfigFile["authzen"]>, profile: Config["profile"], at: (path: string) => string): AuthzenConfig {
  let transport: AuthzenConfig["transport"];
  if (file.tls) {
    transport = {
      kind: "tls",
      tls: {
        certFile: at(file.tls.cert_file),
        keyFile: at(file.tls.key_file),
        ...(file.tls.client_ca_file !== undefined ? { clientCaFile: at(file.tls.client_ca_file) } : {}),
      },
    };
  } else if (file.dev_certificate) {
    transport = { kind: "dev_certificate" };
  } else if (file.insecure_plaintext || profile === "dev") {
    transport = { kind: "plaintext" };
  } else {
    throw new ConfigError("authzen: give tls (or dev_certificate for development); plain HTTP needs insecure_plaintext: true");
  }
  return {
    listen: hostAndPort(file.listen, "authzen.listen"),
    transport,
    ...(file.base_url !== undefined ? { baseUrl: file.base_url } : {}),
    apis: file.apis.map((entry) => ({
      name: entry.name,
      trustAssertedSubjects: entry.trust_asserted_subjects,
      ...(entry.token ? { token: { in: entry.token.in, property: entry.token.property } } : {}),
      decisionContext: entry.decision_context,
    })),
    ...(file.dev_api_key !== undefined ? { devApiKey: file.dev_api_key } : {}),
    directoryFiles: file.directory.map(at),
    search: {
      pageSize: file.search.page_size,
      maxPageSize: file.search.max_page_size,
      maxCandidates: file.search.max_candidates,
      readTimeoutMs: file.search.read_timeout_ms,
    },
    maxBodyBytes: file.max_body_bytes,
  };
}

function hostAndPort(value: string, key: string): { host: string; port: number } {
  const separator = value.lastIndexOf(":");
  const port = Number(value.slice(separator + 1));
  if (port > 65_535) throw new ConfigError(`${key}: port ${port} is out of range`);
  return { host: value.slice(0, separator).replace(/^\[|\]$/g, ""), port };
}
