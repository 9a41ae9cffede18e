// The composition root: builds every stage from the validated Config and serves.
import { maskRulesFrom, MaskRuleError, openAuditLog, type AuditLog, type AuditStore } from "../audit/index.js";
import type { Config } from "../config/index.js";
import { Decider } from "../decide/index.js";
import { createMetrics, serveMetrics, type Logger, type Metrics, type RunningMetricsServer } from "../observability/index.js";
import { DEFAULT_BOUNDS, PolicyRuntime, ShadowRecorder, type WatchOptions } from "../policy/index.js";
import { StateStore, sweepExpired } from "../state/index.js";
import { IssuerRegistry, TokenVerifier } from "../token/index.js";
import { DirectoryStore } from "../directory/index.js";
import { auditQueryHandler } from "./audit-service.js";
import { startAuthzenServer, type RunningAuthzen } from "./authzen/index.js";
import { CallerRegistry } from "./callers.js";
import { startGrpcServer } from "./grpc.js";

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
  /** The database to use; the CLI resolves config.mongo.uri (or starts local-mongo) first. */
  mongoUri: string;
  /** Faster bundle watching, for tests. */
  watchOptions?: Partial<WatchOptions>;
}

/** How often expired state is deleted on servers that do not honour TTL indexes. */
const SWEEP_INTERVAL_MS = 10 * 60_000;

/** How long start waits for the database before serving without it. */
const STATE_READY_WAIT_MS = 5_000;

/** Insecure options are explicit, and loud: each is logged at start. */
function warnAboutInsecureSettings(config: Config, log: Logger): void {
  for (const issuer of config.issuers) {
    if (issuer.allowUntypedJwt) log.warn({ issuer: issuer.issuer }, "[INSECURE CONFIG] allow_typ_jwt: this issuer's tokens need not be typed at+jwt, so ID tokens may pass as access tokens");
    if (issuer.jwksUri?.startsWith("http:")) log.warn({ issuer: issuer.issuer }, "[INSECURE CONFIG] jwks_uri is plain http: keys can be replaced in transit");
    if (issuer.introspection?.endpoint.startsWith("http:")) log.warn({ issuer: issuer.issuer }, "[INSECURE CONFIG] introspection endpoint is plain http: tokens travel in clear");
  }
  for (const api of config.apis) {
    if (api.unknownScopes === "ignore") log.warn({ api: api.name }, "[INSECURE CONFIG] unknown_scopes: ignore: scopes this API does not declare are dropped, not refused");
  }
  if (config.insecurePlaintext) log.warn({ listen: config.listen }, "[INSECURE CONFIG] insecure_plaintext: serving without TLS beyond loopback");
}

export async function startVerdict(config: Config, { log, mongoUri, watchOptions }: StartOptions): Promise<RunningVerdict> {
  const metrics = createMetrics();
  const policies = await PolicyRuntime.start({
    bundlePath: config.bundlePath,
    shadowBundlePath: config.policy.shadowBundlePath,
    bounds: { ...DEFAULT_BOUNDS, timeoutMs: config.policy.timeoutMs, memoryMb: config.policy.memoryMb, workers: config.policy.workers },
    watch: config.policy.watch,
    ...(watchOptions ? { watchOptions } : {}),
    log,
    metrics,
  });

  let audit: AuditLog | undefined;
  let auditStore: AuditStore | undefined;
  if (config.audit.enabled) {
    const active = policies.current();
    try {
      maskRulesFrom(active.data); // masking rules that do not fit are refused now, not at the first record
    } catch (error) {
      await policies.close();
      if (error instanceof MaskRuleError) throw new Error(`policy bundle ${active.source}: ${error.message}`);
      throw error;
    }
    ({ audit, store: auditStore } = openAuditLog({ config: config.audit, mongoUri, database: config.mongo.database, log }));
  } else {
    log.warn("[AUDIT DISABLED] audit.enabled is false: decisions are not recorded");
  }

  warnAboutInsecureSettings(config, log);
  const issuers = IssuerRegistry.fromConfig(config.issuers, {
    onJwksEvent: (event) => (event.type === "fetched" ? log.info(event, "issuer keys fetched") : log.warn(event, "issuer keys")),
  });
  const verifier = new TokenVerifier(issuers, config.token);
  const state = StateStore.open({ uri: mongoUri, database: config.mongo.database, timeoutMs: config.mongo.timeoutMs, log });
  if (!(await state.prepare(STATE_READY_WAIT_MS))) {
    log.warn({ database: config.mongo.database }, "the database is not answering: serving anyway; decisions that need state are denied until it does");
  }
  state.startSweeping(SWEEP_INTERVAL_MS, sweepExpired);
  const shadowRecorder = config.policy.shadowBundlePath
    ? new ShadowRecorder({ store: state, retentionDays: config.policy.shadowRetentionDays, log, metrics })
    : undefined;

  const decider = new Decider({
    verifier,
    policies: { current: () => policies.current(), shadow: () => policies.shadow() },
    state,
    dpop: { maxAgeSeconds: config.token.dpopMaxAgeSeconds, skewSeconds: config.token.clockSkewSeconds, maxBytes: config.token.maxBytes },
    log,
    metrics,
    ...(shadowRecorder ? { shadowRecorder } : {}),
    shadowWaitMs: config.policy.shadowWaitMs,
    ...(audit ? { audit } : {}),
  });
  const callers = new CallerRegistry(config.apis, config.tls?.clientCaFile !== undefined);
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
      maxBatchItems: config.maxBatchItems,
      log,
      auditQuery: auditQueryHandler({ store: auditStore, callers, grants: config.audit.queryGrants, log }),
    });
    if (config.authzen) {
      authzen = await startAuthzenServer({
        config: config.authzen,
        decider,
        directory: new DirectoryStore(state.db, { lookupTimeoutMs: config.mongo.timeoutMs, readTimeoutMs: config.authzen.search.readTimeoutMs }),
        callers: new CallerRegistry(config.apis, config.authzen.transport.kind === "tls" && config.authzen.transport.tls.clientCaFile !== undefined),
        maxBatchItems: config.maxBatchItems,
        stateDir: config.stateDir,
        log,
      });
    }
    if (config.metricsListen) metricsServer = await serveMetrics(metrics.registry, config.metricsListen.host, config.metricsListen.port);
  } catch (error) {
    await authzen?.close();
    await grpcServer?.shutdown(0);
    await audit?.close();
    await policies.close();
    await state.close();
    throw error;
  }
  const address = `${config.listen.host}:${grpcServer.port}`;
  log.info(
    {
      address,
      apis: config.apis.map((a) => a.name),
      issuers: config.issuers.map((i) => i.issuer),
      revision: policies.current().revision,
      ...(policies.shadow() ? { shadowRevision: policies.shadow()?.revision } : {}),
      ...(authzen ? { authzen: authzen.url } : {}),
      ...(metricsServer ? { metrics: `${config.metricsListen?.host}:${metricsServer.port}` } : {}),
    },
    "verdict is serving",
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
      await state.close();
      log.info("verdict stopped");
    },
  };
}
