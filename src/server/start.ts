// The composition root: builds every stage from the validated Config and serves.
import type { Duplex } from "node:stream";
import { ApprovalStore, Approvals, ApprovalWebhook } from "../approvals/index.js";
import { maskRulesFrom, MaskRuleError, openAuditLog, type AuditEvent, type AuditLog, type AuditStore } from "../audit/index.js";
import type { Config } from "../config/index.js";
import { ADMIN_CONNECTIONS_CLOSED_METRIC, ADMIN_CONNECTIONS_REFUSED_METRIC, policyWorkersPerProcess } from "../cluster/index.js";
import { Database } from "../database/index.js";
import { Decider } from "../decide/index.js";
import { VerdictError } from "../errors/index.js";
import { defaultObligations, type ObligationRegistry } from "../obligations/index.js";
import {
  createMetrics,
  Instruments,
  observeAudit,
  observeCountsBy,
  observeHealth,
  observeSuspensions,
  Tracing,
  urlForLog,
  type Logger,
  type Metrics,
} from "../observability/index.js";
import { DEFAULT_BOUNDS, PolicyRuntime, type BundleCopies, type WatchOptions } from "../policy/index.js";
import { openDisagreements, openState, poolSizeFor, type CallObserver, type StateCalls } from "../state/index.js";
import { IssuerRegistry, TokenVerifier } from "../token/index.js";
import { SsfReceiver } from "../ssf/index.js";
import { Suspensions } from "../suspensions/index.js";
import type { RunningAuthzen } from "./authzen/index.js";
import { CallerRegistry } from "./callers.js";
import { plaintextDatabaseHosts } from "./database-uri.js";
import { isLoopback, plaintextBeyondLoopback } from "./loopback.js";
import { formatAddress, startGrpcServer } from "./grpc/server.js";
import type { RunningAdmin } from "./admin/index.js";
import type { ConsoleParts, DevSignIn } from "./admin/console/index.js";
import type * as ConsoleModule from "./admin/console/index.js";
import { Readiness, type ReadinessSource } from "./readiness.js";
import { packageVersion } from "../paths.js";
import type { SpanExporter } from "@opentelemetry/sdk-trace-base";
import type { Registry } from "prom-client";

export interface RunningVerdict {
  port: number;
  address: string;
  /** The active bundle's revision now (it changes when the bundle is reloaded). */
  readonly policyRevision: string;
  /** The active and shadow bundles; reload() checks their files at once. */
  policies: PolicyRuntime;
  metrics: Metrics;
  /** The admin listener's port (GET /healthz, /readyz, /metrics) and its URL. */
  adminPort: number;
  adminUrl: string;
  /** What GET /readyz answers from (and gRPC health follows). */
  readiness: ReadinessSource;
  /** Waits for shadow disagreements still being written. */
  flushShadowRecords(): Promise<void>;
  /** The audit trail; undefined when the configuration disables it. */
  audit: AuditLog | undefined;
  /** The AuthZEN listener, when configured (docs/authzen.md). */
  authzen: { port: number; url: string } | undefined;
  /** Suspensions: this replica's view and the changes made through it (docs/suspensions.md). */
  suspensions: Suspensions;
  /** The approvals stage (docs/approvals.md); its sweep, every minute, marks approvals that ended unused expired. */
  approvals: Approvals;
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
  /** Spans go here as they end, in place of the configured OTLP exporter (tests: an in-memory exporter). */
  spanExporter?: SpanExporter;
  /**
   * "worker": one of the processes of `verdict serve` (src/cluster), whose primary
   * serves admin_listen for all of them (readiness and metrics over IPC); this
   * process's own admin listener is on a private loopback port. "single" (default):
   * the only one. "console": the process of `verdict serve` that serves only the
   * console (on its private admin listener, which the primary's forwards /console/
   * to), with no gRPC or AuthZEN listener: it takes no decision traffic.
   */
  role?: "single" | "worker" | "console";
  /** The development profile's one-click console sign-in (never in production). */
  consoleDevSignIn?: DevSignIn;
  /** How many Verdict processes serve on this machine (default 1): `policy_workers: auto` takes this process's share of the CPUs. */
  processes?: number;
  /**
   * A deciding worker's: the primary listens on config.listen (its port already
   * chosen) and hands each gRPC connection over; onServing gets `inject` to serve them.
   */
  grpcFromPrimary?: boolean;
  /** A worker's: admin_listen's URL as the primary serves it, for the links approvals name (awaited before the process serves). */
  primaryAdminUrl?: Promise<string>;
  /** A worker's: where its primary keeps copies of the active bundles its processes loaded, and the last good one to start on. */
  bundleCopies?: BundleCopies;
  /**
   * A deciding worker's: called the moment its gRPC listener serves. Its private admin
   * listener (Fastify and its routes: CPU that a start on two CPUs would wait for) starts
   * once what this returns resolves (docs/performance.md "Memory and start");
   * startVerdict resolves once it has.
   */
  onServing?: (serving: { address: string; readiness: ReadinessSource; registry: Registry; inject?: (connection: Duplex) => boolean }) => Promise<void>;
}

/** How often expired state is deleted on servers that do not honour TTL indexes. */
const SWEEP_INTERVAL_MS = 10 * 60_000;

/** How long calls in flight get to finish at shutdown. */
const GRPC_GRACE_MS = 10_000;

/** How long the database may take to be ready before Verdict says it is not answering (it keeps trying). */
const STATE_READY_WAIT_MS = 5_000;

/** Insecure options are explicit, and loud: each is logged at start. */
function warnAboutInsecureSettings(config: Config, log: Logger, mongoUri: string): void {
  const inClear = plaintextDatabaseHosts(mongoUri);
  if (inClear.length > 0)
    log.warn(
      { hosts: inClear },
      "[INSECURE CONFIG] the database connection is plain (no tls=true) beyond loopback: suspensions, approvals and counters travel in clear",
    );
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
  if (config.console.enabled && !isLoopback(config.admin_listen.host)) {
    log.warn(
      { admin_listen: `${config.admin_listen.host}:${config.admin_listen.port}` },
      "[CONSOLE] the console is served on a plain-HTTP admin listener beyond loopback: put TLS in front of it (docs/console.md)",
    );
  }
  if (config.insecure_plaintext) log.warn({ listen: config.listen }, "[INSECURE CONFIG] insecure_plaintext: serving without TLS beyond loopback");
  const webhook = config.approvals.webhook;
  if (webhook?.insecure_plaintext && plaintextBeyondLoopback(webhook.url))
    log.warn(
      // the host only: a webhook URL's path or query may hold a secret
      { host: new URL(webhook.url).host },
      "[INSECURE CONFIG] approvals.webhook.insecure_plaintext: approvals (their context values and approval_url) are POSTed in clear beyond loopback",
    );
  const tracing = config.tracing;
  if (tracing?.insecure_plaintext && plaintextBeyondLoopback(tracing.otlp_endpoint ?? ""))
    log.warn(
      { endpoint: urlForLog(tracing.otlp_endpoint ?? "") },
      "[INSECURE CONFIG] tracing.insecure_plaintext: the OTLP export's headers and query string (the collector's credentials) travel in clear beyond loopback",
    );
}

export async function startVerdict(config: Config, options: StartOptions): Promise<RunningVerdict> {
  const { log } = options;
  const metrics = createMetrics({ process: true });
  const tracing = Tracing.start({ config: config.tracing, exporter: options.spanExporter, version: packageVersion() });
  const instruments = new Instruments(metrics, tracing);

  // Ready when a bundle is loaded, the database was reached once, the audit trail
  // can keep a record, and the gRPC listener serves and is not shutting down. A
  // database outage after that degrades decisions (state fails closed) but does
  // not make a replica unready: every replica shares the database, and taking them
  // all out of service would turn a stateful outage into a total one.
  const parts: Started["parts"] = { serving: false };
  const readiness = new Readiness()
    .check("bundle", () => parts.policies !== undefined)
    .check("database", () => parts.database?.reached === true)
    .check("audit", () => !config.audit.enabled || parts.audit?.ready() === true)
    .check("suspensions", () => parts.suspensions?.loaded === true)
    .check("serving", () => parts.serving);
  observeHealth(metrics, {
    ready: () => readiness.report().ready,
    databaseUp: () => parts.database?.available === true,
    databaseClockOffsetMs: () => parts.database?.clock.measuredOffsetMs(),
  });

  // The bundle and its worker thread load first, beside everything else that starts:
  // the thread's start is the longest wait of a process's start, and it is spent on that
  // thread, while this one starts the admin listener, opens the database and loads the
  // suspensions (docs/performance.md "Memory and start").
  const obligations = options.obligations ?? defaultObligations;
  const policiesStarting = PolicyRuntime.start({
    obligations,
    bundlePath: config.bundle,
    shadowBundlePath: config.shadow_bundle,
    bounds: {
      ...DEFAULT_BOUNDS,
      timeoutMs: config.policy_timeout_ms,
      queueTimeoutMs: config.policy_queue_timeout_ms,
      memoryMb: config.policy_memory_mb,
      workers: policyWorkersPerProcess(config.policy_workers, options.processes ?? 1),
    },
    watch: config.bundle_watch,
    ...(options.watchOptions ? { watchOptions: options.watchOptions } : {}),
    copies: options.bundleCopies,
    log,
    metrics,
  });
  // A bundle that does not load is reported where startParts awaits it (not as an unhandled rejection meanwhile).
  policiesStarting.catch(() => undefined);
  try {
    return await startListening(config, options, { metrics, instruments, readiness, parts, obligations, policiesStarting }, tracing);
  } catch (error) {
    await policiesStarting.then((policies) => policies.close()).catch(() => undefined);
    throw error;
  }
}

/** The admin listener, then the rest (startParts); undoes what started when the start fails. */
async function startListening(
  config: Config,
  options: StartOptions,
  started: Pick<Started, "metrics" | "instruments" | "readiness" | "parts" | "obligations" | "policiesStarting">,
  tracing: Tracing,
): Promise<RunningVerdict> {
  const { log } = options;
  const { metrics, readiness, parts } = started;
  // A worker's admin listener is private: the console is served by a single-process Verdict, or by the
  // console's own process of several, through the primary's admin listener (docs/console.md).
  const worker = options.role === "worker" || options.role === "console";
  // The console's parts are filled in below as they start; until then its API answers 503.
  const consoleParts: ConsoleParts = {};
  // Its modules load only when it is served: a Verdict without the console starts without them.
  const consoleModule = config.console.enabled && options.role !== "worker" ? await import("./admin/console/index.js") : undefined;
  const startAdmin = async (): Promise<RunningAdmin> => {
    const { approvalsRoutes, healthRoutes, metricsRoutes, ssfRoutes, startAdminServer } = await import("./admin/index.js");
    return startAdminServer({
      host: worker ? "127.0.0.1" : config.admin_listen.host,
      port: worker ? 0 : config.admin_listen.port,
      exclusive: worker,
      routes: [
        healthRoutes(readiness),
        metricsRoutes(metrics.registry),
        ssfRoutes(config.ssf.transmitters.length > 0, () => parts.ssf),
        approvalsRoutes(() => parts.approvals),
        ...(consoleModule
          ? [
              consoleModule.consoleRoutes({
                config: config.console,
                parts: consoleParts,
                log,
                auditFlushIntervalMs: config.audit.flush_interval_ms,
                // The playground's input is held to a Check's bounds.
                limits: { maxContextBytes: config.max_context_bytes },
                ...(options.consoleDevSignIn ? { devSignIn: options.consoleDevSignIn } : {}),
              }),
            ]
          : []),
      ],
      log,
    });
  };
  // The admin listener first, so that /healthz answers (and /readyz says why not) while the rest
  // starts; a deciding worker's, which only the primary reaches, once it serves (startParts).
  const admin = options.role === "worker" ? undefined : await startAdmin();
  // admin_listen's refusals and closings, on its own /metrics (a process of several has a private listener; the primary counts admin_listen's).
  if (admin && !worker) {
    observeCountsBy(metrics, ADMIN_CONNECTIONS_REFUSED_METRIC, () => admin.connectionsRefused());
    observeCountsBy(metrics, ADMIN_CONNECTIONS_CLOSED_METRIC, () => admin.connectionsClosed());
  }
  const closers: (() => Promise<unknown>)[] = [() => tracing.shutdown(), () => Promise.resolve(readiness.close())];
  // Closed last.
  if (admin) closers.unshift(() => admin.close());
  const closeAll = async () => {
    for (const close of closers.splice(0).reverse()) await close().catch((error: unknown) => log.warn({ err: error }, "error while closing"));
  };
  try {
    return await startParts(config, options, { ...started, admin, startAdmin, closers, closeAll, consoleParts, consoleModule });
  } catch (error) {
    await closeAll();
    throw error;
  }
}

interface Started {
  metrics: Metrics;
  instruments: Instruments;
  readiness: Readiness;
  /** The obligation types the engines read decisions with and the Decider applies (StartOptions.obligations, else the defaults). */
  obligations: ObligationRegistry;
  /** The active bundle (and shadow) loading in their worker threads since the start. */
  policiesStarting: Promise<PolicyRuntime>;
  parts: {
    policies?: PolicyRuntime;
    database?: Database;
    audit?: AuditLog;
    suspensions?: Suspensions;
    ssf?: SsfReceiver;
    approvals?: Approvals;
    serving: boolean;
  };
  /** The admin listener; undefined in a deciding worker until it serves. */
  admin: RunningAdmin | undefined;
  startAdmin(): Promise<RunningAdmin>;
  /** Undone in reverse order when start fails or Verdict stops. */
  closers: (() => Promise<unknown>)[];
  closeAll(): Promise<void>;
  consoleParts: ConsoleParts;
  /** The console's module, when it is served. */
  consoleModule: typeof ConsoleModule | undefined;
}

async function startParts(
  config: Config,
  { log, mongoUri, role = "single", primaryAdminUrl, onServing, grpcFromPrimary = false, processes = 1 }: StartOptions,
  started: Started,
): Promise<RunningVerdict> {
  const { metrics, instruments, readiness, parts, closers, consoleParts, consoleModule, obligations, policiesStarting } = started;
  let admin = started.admin;
  // The one connection of the process: state, shadow disagreements and the audit trail.
  // It connects in the background while the bundle loads, and its pool opens every
  // connection once the indexes are there (database.prepare below), not while this
  // process starts, when it competes for the CPU: a Verdict started before its database
  // serves (not ready) and recovers by itself when the database comes up.
  const database = Database.open({
    uri: mongoUri,
    database: config.mongodb_database,
    log,
    serverSelectionTimeoutMs: Math.max(config.state_timeout_ms, 5_000),
    poolSize: poolSizeFor(config.state_concurrency),
  });
  closers.push(() => database.close());
  database.connectInBackground();
  parts.database = database;
  void database.whenReached().then(() => readiness.refresh());
  // Every replica keeps the suspensions in memory and follows their changes (no database trip per Check). They load
  // while the bundle does; their changes (made through this replica once it serves) are recorded in the audit trail.
  const suspensions = new Suspensions({
    database,
    settings: config.suspensions,
    log,
    ...(config.audit.enabled ? { events: { recordEvent: (event: AuditEvent) => parts.audit?.recordEvent(event) ?? false } } : {}),
  });
  closers.push(() => suspensions.close());
  const suspensionsLoading = suspensions.start(STATE_READY_WAIT_MS);
  const policies = await policiesStarting;
  closers.push(() => policies.close());

  if (config.audit.enabled) {
    const active = policies.current();
    try {
      maskRulesFrom(active.data); // masking rules that do not fit are refused now, not at the first record
    } catch (error) {
      if (error instanceof MaskRuleError) throw new VerdictError("mask_rule_invalid", `policy bundle ${active.source}: ${error.message}`);
      throw error;
    }
  }
  parts.policies = policies;

  let audit: AuditLog | undefined;
  let auditStore: AuditStore | undefined;
  if (config.audit.enabled) {
    // A spill directory that cannot be trusted (SpillDirectoryError) refuses to start.
    ({ audit, store: auditStore } = openAuditLog({ config: config.audit, database, log }));
    const trail = audit;
    closers.push(() => trail.close());
    audit.adoptMaskingOf(policies.current().data);
    observeAudit(metrics, () => trail.stats());
    parts.audit = audit;
  } else {
    log.warn("[AUDIT DISABLED] audit.enabled is false: decisions are not recorded");
  }
  observeSuspensions(metrics, () => suspensions.stats());
  parts.suspensions = suspensions;
  if (consoleModule) Object.assign(consoleParts, { suspensions: consoleModule.consoleSuspensions(suspensions) });
  // Shared Signals (RFC 8935) from identity providers, on the admin listener: each SET's events become suspensions.
  const ssf = new SsfReceiver({ settings: config.ssf, database, suspensions: () => parts.suspensions, log });
  // Closed before the audit trail, the suspensions and the database (closers run in reverse), though its route is on
  // the admin listener, closed last: deliveries under way finish or let go of their claims while the database is open.
  closers.push(() => ssf.close());

  warnAboutInsecureSettings(config, log, mongoUri);
  const jwksIssuer = new Map(config.issuers.flatMap((issuer) => (issuer.jwks_uri ? [[issuer.jwks_uri, issuer.issuer] as const] : [])));
  const issuers = IssuerRegistry.fromConfig(config.issuers, {
    onJwksEvent: (event) => {
      const result = event.type === "fetched" ? "fetched" : event.type === "fetch_failed" ? "failed" : "served_stale";
      metrics.jwksRefreshes.inc({ issuer: jwksIssuer.get(event.uri) ?? event.uri, result });
      if (event.type === "fetched") log.info(event, "issuer keys fetched");
      else log.warn(event, "issuer keys");
    },
  });
  const verifier = new TokenVerifier(issuers, {
    clockSkewSeconds: config.clock_skew_seconds,
    maxBytes: config.max_token_bytes,
    maxLifetimeSeconds: config.max_token_lifetime_seconds,
    cacheEntries: config.token_cache_entries,
  });
  const onCall: CallObserver = (operation, seconds, failure) => {
    if (failure !== "silent") metrics.databaseCallDuration.observe({ operation }, seconds); // one refused at once was never sent
    if (failure) metrics.databaseCallErrors.inc({ operation, error: failure });
  };
  const state = openState(database, {
    timeoutMs: config.state_timeout_ms,
    log,
    onCall,
    admission: { concurrency: config.state_concurrency, queueTimeoutMs: config.state_queue_timeout_ms },
  });
  // The AuthZEN directory's collection on the same connection: its indexes are created and its expired entries swept with the others.
  // Loaded only when configured: a Verdict without AuthZEN starts without it.
  const directory = config.authzen
    ? new (await import("../directory/index.js")).DirectoryStore(database, {
        lookups: state.calls,
        readTimeoutMs: config.authzen.search.read_timeout_ms,
      })
    : undefined;
  const shadowRecorder = config.shadow_bundle
    ? openDisagreements(database, { timeoutMs: config.state_timeout_ms, retentionDays: config.shadow_retention_days, log, metrics, onCall })
    : undefined;
  if (shadowRecorder) closers.push(() => shadowRecorder.flush());
  // A worker's own admin listener is private: its approval links name the primary's, which forwards /approvals/ to a worker.
  // Asked for at the process's start (the answer is in long before the bundle has loaded), awaited here: a decision
  // before it would name a link without a host.
  const viaPrimary = primaryAdminUrl ? await primaryAdminUrl : undefined;
  const adminUrl = () => viaPrimary ?? admin?.url ?? "";
  const approvals = startApprovals(config, { database, calls: state.calls, verifier, audit, log, adminUrl });
  closers.push(() => approvals.close());
  // Serving does not wait for the database: its indexes are created in the background
  // (readiness says not ready until it was reached; decisions that need state wait their turn).
  void database.prepare(STATE_READY_WAIT_MS).then((ready) => {
    // Closed meanwhile: the start failed elsewhere (its error says why) or Verdict is stopping.
    if (!ready && !database.isClosed)
      log.warn({ database: config.mongodb_database }, "the database is not answering: serving, not ready; decisions that need state are denied until it does");
  });
  // The suspensions are loaded before this replica decides anything (a replica started
  // after a suspension must not let the suspended through): bounded, so that a
  // database that is down delays serving by at most STATE_READY_WAIT_MS. Until they
  // have loaded, the replica is not ready and decides as when_stale says.
  if (ssf.enabled) parts.ssf = ssf;
  const loaded = await suspensionsLoading;
  readiness.refresh();
  if (!loaded) {
    const meanwhile = config.suspensions.when_stale === "deny_all" ? "every Check is denied (state_unavailable)" : "no one is known to be suspended";
    log.warn(`suspensions are not loaded yet: serving, not ready; ${meanwhile} until they are`);
  }
  database.startSweeping(SWEEP_INTERVAL_MS);

  const decider = new Decider({
    verifier,
    policies: { current: () => policies.current(), shadow: () => policies.shadow() },
    state,
    obligations,
    dpop: { maxAgeSeconds: config.dpop_max_age_seconds, skewSeconds: config.clock_skew_seconds, maxBytes: config.max_token_bytes },
    log,
    instruments,
    ...(shadowRecorder ? { shadowRecorder } : {}),
    shadowWaitMs: config.shadow_wait_ms,
    ...(audit ? { audit } : {}),
    suspensions,
    approvals: approvals.stage,
  });
  parts.approvals = approvals.stage;
  // The console reads what the decisions use (the same verifier and bundles) and the trail's indexed queries.
  if (consoleModule)
    Object.assign(consoleParts, {
      verifier,
      policies,
      approvals: consoleModule.consoleApprovals(approvals.stage),
      ...(auditStore ? { audit: auditStore } : {}),
    });
  const callers = new CallerRegistry(config.apis, config.tls?.client_ca_file !== undefined);
  // The console's process decides nothing: no listener for decisions.
  const decides = role !== "console";
  const grpcServer = !decides
    ? undefined
    : await startGrpcServer({
        host: config.listen.host,
        port: config.listen.port,
        decider,
        callers,
        tls: config.tls,
        maxBatchItems: config.max_batch_items,
        limits: { maxContextBytes: config.max_context_bytes },
        log,
        audit: { store: auditStore, grants: config.audit.query_grants },
        suspensions,
        approvals: approvals.stage,
        instruments,
        readiness,
        maxConnectionAgeMs: config.max_connection_age_seconds * 1_000,
        maxConnectionAgeGraceMs: config.max_connection_age_grace_seconds * 1_000,
        maxConnections: config.max_connections,
        requestTimeoutMs: config.request_timeout_ms,
        maxConcurrentStreams: config.max_concurrent_streams,
        ...(grpcFromPrimary ? { fromPrimary: true } : {}),
      });
  // Stopping: no new calls, calls in flight answered (and their records taken), then the rest closed in reverse.
  let graceful = false;
  if (grpcServer) closers.push(() => grpcServer.shutdown(graceful ? GRPC_GRACE_MS : 0));
  let authzen: RunningAuthzen | undefined;
  if (config.authzen && directory && decides) {
    const { startAuthzenServer } = await import("./authzen/index.js");
    authzen = await startAuthzenServer({
      config: config.authzen,
      decider,
      directory,
      callers: new CallerRegistry(config.apis, config.authzen.transport.kind === "tls" && config.authzen.transport.tls.client_ca_file !== undefined),
      maxBatchItems: config.max_batch_items,
      limits: { maxContextBytes: config.max_context_bytes },
      log,
      tracing: instruments.tracing,
      registry: metrics.registry,
      processes,
    });
    const running = authzen;
    closers.push(() => running.close());
  }
  parts.serving = true;
  readiness.refresh();
  const address = grpcServer ? formatAddress(config.listen.host, grpcServer.port) : "";
  log.info(
    {
      address,
      // A deciding worker's private admin listener starts below.
      ...(admin ? { admin: admin.url } : {}),
      ready: readiness.report().ready,
      apis: config.apis.map((a) => a.name),
      issuers: config.issuers.map((i) => i.issuer),
      revision: policies.current().revision,
      policyWorkers: policies.current().bounds.workers,
      ...(policies.shadow() ? { shadowRevision: policies.shadow()?.revision } : {}),
      ...(authzen ? { authzen: authzen.url } : {}),
      // Never the endpoint's userinfo, query or fragment: they may hold the collector's credentials.
      ...(config.tracing?.otlp_endpoint ? { tracing: urlForLog(config.tracing.otlp_endpoint) } : {}),
    },
    role === "single" ? "verdict is serving" : role === "console" ? "verdict console process is serving" : "verdict process is serving",
  );
  if (!admin) {
    await onServing?.({ address, readiness, registry: metrics.registry, ...(grpcServer?.inject ? { inject: grpcServer.inject } : {}) });
    const listener = await started.startAdmin();
    closers.unshift(() => listener.close());
    admin = listener;
  }
  let stopping: Promise<void> | undefined;
  return {
    port: grpcServer?.port ?? 0,
    address,
    get policyRevision() {
      return policies.current().revision;
    },
    policies,
    metrics,
    adminPort: admin.port,
    adminUrl: admin.url,
    readiness,
    flushShadowRecords: async () => {
      await shadowRecorder?.flush();
    },
    audit,
    authzen: authzen ? { port: authzen.port, url: authzen.url } : undefined,
    suspensions,
    approvals: approvals.stage,
    stop() {
      stopping ??= (async () => {
        // Not ready from the first moment (probes and gRPC health say so), then: no
        // new calls, those in flight answered, every record written or spilled, the
        // connections closed; the admin listener last.
        parts.serving = false;
        readiness.refresh();
        graceful = true;
        await started.closeAll();
        log.info("verdict stopped");
      })();
      return stopping;
    },
  };
}

/** How often approvals that ended unused are marked expired (each an audit event). */
const APPROVAL_SWEEP_MS = 60_000;

/** The approvals stage (docs/approvals.md): its store on the one connection, its webhook, its expiry sweep. */
function startApprovals(
  config: Config,
  {
    database,
    calls,
    verifier,
    audit,
    log,
    adminUrl,
  }: { database: Database; calls: StateCalls; verifier: TokenVerifier; audit: AuditLog | undefined; log: Logger; adminUrl: () => string },
): { stage: Approvals; close(): Promise<void> } {
  const apis = new Map(config.apis.map((api) => [api.name, { audience: api.audience, scopes: new Set(api.scopes), unknownScopes: api.unknown_scopes }]));
  const webhook = config.approvals.webhook ? new ApprovalWebhook({ ...config.approvals.webhook, log }) : undefined;
  const stage = new Approvals({
    store: new ApprovalStore(database, calls),
    verifier,
    apis: (name) => apis.get(name),
    humanClientTypes: config.approvals.human_client_types,
    maxPendingPerAgent: config.approvals.max_pending_per_agent,
    url: () => config.approvals.url ?? `${adminUrl()}/approvals/{id}`,
    ...(audit ? { events: audit } : {}),
    ...(webhook ? { webhook } : {}),
    log,
  });
  const sweep = setInterval(() => {
    if (database.available) stage.sweep().catch((error: unknown) => log.warn({ err: (error as Error).message }, "could not mark expired approvals"));
  }, APPROVAL_SWEEP_MS);
  sweep.unref();
  return {
    stage,
    close: () => {
      clearInterval(sweep);
      webhook?.close();
      return Promise.resolve();
    },
  };
}
