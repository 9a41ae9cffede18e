// The composition root: builds every stage from the validated Config and serves.
import { maskRulesFrom, MaskRuleError, openAuditLog, type AuditLog, type AuditStore } from "../audit/index.js";
import type { Config } from "../config/index.js";
import { Database } from "../database/index.js";
import { Decider } from "../decide/index.js";
import { VerdictError } from "../errors/index.js";
import { defaultObligations, type ObligationRegistry } from "../obligations/index.js";
import { createMetrics, serveMetrics, type Logger, type Metrics, type RunningMetricsServer } from "../observability/index.js";
import { DEFAULT_BOUNDS, PolicyRuntime, type WatchOptions } from "../policy/index.js";
import { openDisagreements, openState, poolSizeFor } from "../state/index.js";
import { IssuerRegistry, TokenVerifier } from "../token/index.js";
import type { RunningAuthzen } from "./authzen/index.js";
import { CallerRegistry } from "./callers.js";
import { formatAddress, startGrpcServer } from "./grpc/server.js";

export interface RunningVerdict {
  port: number;
  address: string;
  /** The active bundle's revision now (it changes when the bundle is reloaded). */
  readonly policyRevision: string;
  /** The active and shadow bundles; reload() checks their files at once. */
  policies: PolicyRuntime;
  metrics: Metrics;
  /** The port of GET /metrics when metrics_listen is configured. */
  metricsPort: number | undefined;
  /** Waits for shadow disagreements still being written. */
  flushShadowRecords(): Promise<void>;
  /** The audit trail; undefined when the configuration disables it. */
  audit: AuditLog | undefined;
  /** The AuthZEN listener, when configured (docs/authzen.md). */
  authzen: { port: number; url: string } | undefined;
  /** Stops taking calls, finishes those in flight, writes (or spills) every audit record, then closes. */
  stop(): Promise<void>;
}

export interface StartOptions {
  log: Logger;
  /** The database to use; the CLI resolves config.mongodb_uri (or starts local-mongo) first. */
  mongoUri: string;
  /** Faster bundle watching, for tests. */
  watchOptions?: Partial<WatchOptions>;
  /** The obligation types policies may ask for (default: reserve, rate, once); tests register more. */
  obligations?: ObligationRegistry;
  /**
   * "worker": one of the processes of `verdict serve` (server/cluster.ts), whose
   * primary says when all serve and serves their metrics; "single" (default): the
   * only one.
   */
  role?: "single" | "worker";
}

/** How often expired state is deleted on servers that do not honour TTL indexes. */
const SWEEP_INTERVAL_MS = 10 * 60_000;

/** How long the database may take to be ready before Verdict says it is not answering (it keeps trying). */
const STATE_READY_WAIT_MS = 5_000;

/** Insecure options are explicit, and loud: each is logged at start. */
function warnAboutInsecureSettings(config: Config, log: Logger): void {
  for (const issuer of config.issuers) {
    if (issuer.allow_typ_jwt)
      log.warn(
        { issuer: issuer.issuer },
        "[INSECURE CONFIG] allow_typ_jwt: this issuer's tokens need not be typed at+jwt, so ID tokens may pass as access tokens",
      );
    if (issuer.jwks_uri?.startsWith("http:")) log.warn({ issuer: issuer.issuer }, "[INSECURE CONFIG] jwks_uri is plain http: keys can be replaced in transit");
    if (issuer.introspection?.endpoint.startsWith("http:"))
      log.warn({ issuer: issuer.issuer }, "[INSECURE CONFIG] introspection endpoint is plain http: tokens travel in clear");
  }
  for (const api of config.apis) {
    if (api.unknown_scopes === "ignore")
      log.warn({ api: api.name }, "[INSECURE CONFIG] unknown_scopes: ignore: scopes this API does not declare are dropped, not refused");
  }
  if (config.insecure_plaintext) log.warn({ listen: config.listen }, "[INSECURE CONFIG] insecure_plaintext: serving without TLS beyond loopback");
}

export async function startVerdict(
  config: Config,
  { log, mongoUri, watchOptions, obligations = defaultObligations, role = "single" }: StartOptions,
): Promise<RunningVerdict> {
  const metrics = createMetrics();
  // The one connection of the process: state, shadow disagreements and the audit
  // trail. Its connections open while the bundle loads.
  const database = Database.open({
    uri: mongoUri,
    database: config.mongodb_database,
    log,
    serverSelectionTimeoutMs: Math.max(config.state_timeout_ms, 5_000),
    poolSize: poolSizeFor(config.state_concurrency),
  });
  database.warmUp();
  let policies: PolicyRuntime;
  try {
    policies = await PolicyRuntime.start({
      obligations,
      bundlePath: config.bundle,
      shadowBundlePath: config.shadow_bundle,
      bounds: { ...DEFAULT_BOUNDS, timeoutMs: config.policy_timeout_ms, memoryMb: config.policy_memory_mb, workers: config.policy_workers },
      watch: config.bundle_watch,
      ...(watchOptions ? { watchOptions } : {}),
      log,
      metrics,
    });
  } catch (error) {
    await database.close();
    throw error;
  }

  if (config.audit.enabled) {
    const active = policies.current();
    try {
      maskRulesFrom(active.data); // masking rules that do not fit are refused now, not at the first record
    } catch (error) {
      await policies.close();
      await database.close();
      if (error instanceof MaskRuleError) throw new VerdictError("mask_rule_invalid", `policy bundle ${active.source}: ${error.message}`);
      throw error;
    }
  }

  let audit: AuditLog | undefined;
  let auditStore: AuditStore | undefined;
  if (config.audit.enabled) {
    try {
      ({ audit, store: auditStore } = openAuditLog({ config: config.audit, database, log }));
    } catch (error) {
      // e.g. a spill directory that cannot be trusted (SpillDirectoryError)
      await policies.close();
      await database.close();
      throw error;
    }
    audit.adoptMaskingOf(policies.current().data);
  } else {
    log.warn("[AUDIT DISABLED] audit.enabled is false: decisions are not recorded");
  }

  warnAboutInsecureSettings(config, log);
  const issuers = IssuerRegistry.fromConfig(config.issuers, {
    onJwksEvent: (event) => (event.type === "fetched" ? log.info(event, "issuer keys fetched") : log.warn(event, "issuer keys")),
  });
  const verifier = new TokenVerifier(issuers, {
    clockSkewSeconds: config.clock_skew_seconds,
    maxBytes: config.max_token_bytes,
    maxLifetimeSeconds: config.max_token_lifetime_seconds,
    cacheEntries: config.token_cache_entries,
  });
  const state = openState(database, {
    timeoutMs: config.state_timeout_ms,
    log,
    admission: { concurrency: config.state_concurrency, queueTimeoutMs: config.state_queue_timeout_ms },
  });
  // The AuthZEN directory's collection on the same connection: its indexes are created and its expired entries swept with the others.
  // Loaded only when configured: a Verdict without AuthZEN starts without its HTTP framework.
  const directory = config.authzen
    ? new (await import("../directory/index.js")).DirectoryStore(database, {
        lookupTimeoutMs: config.state_timeout_ms,
        readTimeoutMs: config.authzen.search.read_timeout_ms,
      })
    : undefined;
  const shadowRecorder = config.shadow_bundle
    ? openDisagreements(database, { timeoutMs: config.state_timeout_ms, retentionDays: config.shadow_retention_days, log, metrics })
    : undefined;
  // Serving does not wait for the database: its connections open and its indexes are
  // created in the background (decisions that need state wait their turn meanwhile).
  void database.prepare(STATE_READY_WAIT_MS).then((ready) => {
    if (!ready)
      log.warn({ database: config.mongodb_database }, "the database is not answering: serving anyway; decisions that need state are denied until it does");
  });
  database.startSweeping(SWEEP_INTERVAL_MS);

  const decider = new Decider({
    verifier,
    policies: { current: () => policies.current(), shadow: () => policies.shadow() },
    state,
    obligations,
    dpop: { maxAgeSeconds: config.dpop_max_age_seconds, skewSeconds: config.clock_skew_seconds, maxBytes: config.max_token_bytes },
    log,
    metrics,
    ...(shadowRecorder ? { shadowRecorder } : {}),
    shadowWaitMs: config.shadow_wait_ms,
    ...(audit ? { audit } : {}),
  });
  const callers = new CallerRegistry(config.apis, config.tls?.client_ca_file !== undefined);
  let grpcServer;
  let metricsServer: RunningMetricsServer | undefined;
  let authzen: RunningAuthzen | undefined;
  try {
    grpcServer = await startGrpcServer({
      host: config.listen.host,
      port: config.listen.port,
      decider,
      callers,
      tls: config.tls,
      maxBatchItems: config.max_batch_items,
      limits: { maxContextBytes: config.max_context_bytes },
      log,
      audit: { store: auditStore, grants: config.audit.query_grants },
    });
    if (config.authzen && directory) {
      const { startAuthzenServer } = await import("./authzen/index.js");
      authzen = await startAuthzenServer({
        config: config.authzen,
        decider,
        directory,
        callers: new CallerRegistry(config.apis, config.authzen.transport.kind === "tls" && config.authzen.transport.tls.client_ca_file !== undefined),
        maxBatchItems: config.max_batch_items,
        log,
      });
    }
    if (config.metrics_listen && role === "single")
      metricsServer = await serveMetrics(metrics.registry, config.metrics_listen.host, config.metrics_listen.port);
  } catch (error) {
    await authzen?.close();
    await grpcServer?.shutdown(0);
    await audit?.close();
    await policies.close();
    await database.close();
    throw error;
  }
  const address = formatAddress(config.listen.host, grpcServer.port);
  log.info(
    {
      address,
      apis: config.apis.map((a) => a.name),
      issuers: config.issuers.map((i) => i.issuer),
      revision: policies.current().revision,
      ...(policies.shadow() ? { shadowRevision: policies.shadow()?.revision } : {}),
      ...(authzen ? { authzen: authzen.url } : {}),
      ...(metricsServer && config.metrics_listen ? { metrics: formatAddress(config.metrics_listen.host, metricsServer.port) } : {}),
    },
    role === "single" ? "verdict is serving" : "verdict process is serving",
  );
  const server = grpcServer;
  const running = authzen;
  return {
    port: server.port,
    address,
    get policyRevision() {
      return policies.current().revision;
    },
    policies,
    metrics,
    metricsPort: metricsServer?.port,
    flushShadowRecords: async () => {
      await shadowRecorder?.flush();
    },
    audit,
    authzen: authzen ? { port: authzen.port, url: authzen.url } : undefined,
    async stop() {
      // In this order: no new calls, calls in flight answered (and their records
      // taken), every record written or spilled, then the connections closed.
      await Promise.all([server.shutdown(), running?.close()]);
      await audit?.close();
      await metricsServer?.close();
      await shadowRecorder?.flush();
      await policies.close();
      await database.close();
      log.info("verdict stopped");
    },
  };
}
