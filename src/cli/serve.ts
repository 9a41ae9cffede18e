import { resolve } from "node:path";
import type { Registry } from "prom-client";
import {
  acceptConnections,
  answerPrimary,
  clusterRole,
  isClusterWorker,
  leavePrimary,
  primaryAdminUrl,
  primaryConfiguration,
  primaryGrpcPort,
  processCount,
  reportAdminUrl,
  reportKeptBundle,
  reportServing,
  reportStopping,
  startCluster,
  tuneServingProcess,
  yieldToDecisions,
  stopWhenPrimaryGone,
  type KeptBundles,
  type PrimaryRequests,
  type RunningCluster,
} from "../cluster/index.js";
import { loadConfigFile, stateDirFrom, type Config, type Environment } from "../config/index.js";
import type { DevAuthorizationServer, MongoServerProcess } from "../dev/index.js";
import { VerdictError } from "../errors/index.js";
import { createLogger, type Logger } from "../observability/index.js";
import type { RunningVerdict } from "../server/index.js";
import { parseOptions, UsageError } from "./args.js";
import { Shutdown } from "./shutdown.js";

// What only some processes need is loaded when they need it: the primary of several
// processes never loads the server, and a production server never loads dev/.
const server = () => import("../server/index.js");
const dev = () => import("../dev/index.js");
const localDatabase = () => import("./local-database.js");

export const usage = `verdict serve (--config FILE | --profile dev) [--listen HOST:PORT] [--admin-listen HOST:PORT] [--bundle B] [--shadow-bundle B]

  --config FILE     YAML or JSON configuration (see docs/configuration.md)
  --profile dev     local development: demo policies, the development issuer and
                    API (key printed at start), local-mongo under .verdict/, and a
                    development OAuth authorization server for MCP clients
  --listen H:P      override the listen address
  --admin-listen H:P
                    override admin_listen: /healthz, /readyz and /metrics
                    (default 127.0.0.1:9464; dev profile with --listen …:0, port 0)
  --auth-listen H:P dev profile: the authorization server's address (default: the
                    listen port + 1 on loopback, e.g. 127.0.0.1:50052)
  --mcp-resource U  dev profile: the MCP example's URL, the dev-mcp API's audience
                    (default http://127.0.0.1:3001/mcp)
  --bundle B        serve this bundle (overrides the configuration's bundle)
  --shadow-bundle B evaluate this candidate beside it (shadow evaluation,
                    docs/policies.md#shadow-evaluation); works with --profile dev`;

export async function serve(argv: string[], env: Environment): Promise<void> {
  const shutdown = new Shutdown();
  try {
    await serveUntilStopped(argv, env, shutdown);
  } catch (error) {
    // A start that failed has nothing left to stop: what it opened is closed, and a signal ends the process again.
    await shutdown.release();
    throw error;
  }
}

async function serveUntilStopped(argv: string[], env: Environment, shutdown: Shutdown): Promise<void> {
  const options = parseOptions(argv, {
    config: { type: "string" },
    profile: { type: "string" },
    listen: { type: "string" },
    "admin-listen": { type: "string" },
    "auth-listen": { type: "string" },
    "mcp-resource": { type: "string" },
    bundle: { type: "string" },
    "shadow-bundle": { type: "string" },
  });
  if ((options.config === undefined) === (options.profile === undefined)) {
    throw new UsageError("give either --config FILE or --profile dev");
  }
  if (options.profile !== undefined && options.profile !== "dev") throw new UsageError(`unknown profile ${options.profile}; the only profile is dev`);

  const worker = isClusterWorker();
  const stateDir = stateDirFrom(env);
  if (worker) {
    // A process of several leaves the terminal's signals to its primary until it serves
    // (before, it has nothing to lose; its primary stops it once started), and serves with
    // the configuration its primary validated: none reads the file again.
    shutdown.leaveTerminalSignalsToPrimary();
    await serveWorker(clusterRole(env), stateDir, shutdown);
    return;
  }
  // A stop asked for while the server starts (SIGTERM from an orchestrator, Ctrl-C, the terminal's
  // hang-up) waits for the start and then stops it as at any other time: every process, the
  // database, the records.
  shutdown.onSignals();
  // --listen and --admin-listen go into the configuration before it is validated: the same rules hold as for the file's.
  const overrides: Record<string, unknown> = {
    ...(options.listen !== undefined ? { listen: options.listen } : {}),
    ...(options["admin-listen"] !== undefined ? { admin_listen: options["admin-listen"] } : {}),
    // a candidate beside the served bundle (shadow evaluation), e.g. in the dev profile
    ...(options.bundle !== undefined ? { bundle: resolve(options.bundle) } : {}),
    ...(options["shadow-bundle"] !== undefined ? { shadow_bundle: resolve(options["shadow-bundle"]) } : {}),
  };
  // A dev Verdict on a free port (tests, several at once) takes a free admin port too, as its authorization server does.
  if (options.profile === "dev" && overrides["admin_listen"] === undefined && options.listen !== undefined && /:0$/.test(options.listen)) {
    overrides["admin_listen"] = options.listen;
  }
  let config: Config;
  let devApiKey: string | undefined;
  // What the start opens beside the server (the dev authorization server, local-mongo), closed
  // once: after the server has stopped, or when the start fails.
  let authorizationServer: DevAuthorizationServer | undefined;
  let database: MongoServerProcess | undefined;
  const closeOpened = async () => {
    const [openedServer, openedDatabase] = [authorizationServer, database];
    [authorizationServer, database] = [undefined, undefined];
    if (openedServer) {
      (await dev()).removeDevAuthorizationFile(stateDir);
      await openedServer.close();
    }
    if (!openedDatabase) return;
    (await localDatabase()).removeLocalDatabaseFile(stateDir);
    await openedDatabase.stop();
  };
  shutdown.onFailedStart(closeOpened);
  if (options.profile === "dev") {
    const {
      DEV_API_AUDIENCE,
      demoPolicyAcrLevels,
      demoPolicyScopes,
      devAuthorizationListen,
      devConfig,
      startDevAuthorizationServer,
      writeDevAuthorizationFile,
    } = await dev();
    // Development only: an OAuth authorization server on loopback whose tokens this Verdict trusts.
    authorizationServer = await startDevAuthorizationServer({
      stateDir,
      ...devAuthorizationListen(options.listen ?? "127.0.0.1:50051", options["auth-listen"]),
      scopes: demoPolicyScopes(),
      acrLevels: demoPolicyAcrLevels(),
      defaultAudience: DEV_API_AUDIENCE,
    });
    writeDevAuthorizationFile(stateDir, authorizationServer.issuer);
    ({ config, apiKey: devApiKey } = await devConfig(env, stateDir, overrides, {
      authorizationServer: authorizationServer.issuer,
      ...(options["mcp-resource"] ? { mcpResource: options["mcp-resource"] } : {}),
    }));
  } else {
    config = loadConfigFile(options.config as string, env, overrides);
  }
  const log = createLogger(config.log_level);
  shutdown.stopOnFaults(reportFault(log));
  if (config.profile === "dev") {
    log.warn("[DEV PROFILE] development issuer and API key from .verdict/; never use this profile in production");
    log.warn(
      { issuer: authorizationServer?.issuer },
      "[DEV AUTHORIZATION SERVER] no real sign-in: anyone on this machine can get tokens from it; development only",
    );
  }

  let mongoUri = config.mongodb_uri;
  if (mongoUri === undefined) {
    const { localDatabasePath, writeLocalDatabaseFile } = await localDatabase();
    database = await (await dev()).startLocalMongo({ dbpath: localDatabasePath(stateDir) });
    mongoUri = database.uri;
    // local-mongo locks its data file: other commands (verdict audit query) find
    // this server through the file instead of opening the data themselves.
    writeLocalDatabaseFile(stateDir, mongoUri);
    log.info({ uri: mongoUri, data: localDatabasePath(stateDir) }, "started local-mongo (set MONGODB_URI to use another server)");
  }
  // With several processes and the console on, one more process serves the console only (src/cluster).
  const processes = processCount(config.processes);
  // The console's development sign-in: a dev token for the console's audience (with several processes, the console's process makes it).
  const consoleDevSignIn = processes === 1 ? await devConsoleSignIn(config, stateDir) : undefined;
  if (processes === 1) tuneServingProcess(); // this process serves (the primary of several does not)
  const running: { address: string; adminUrl: string; stop(): Promise<void>; failed?: Promise<Error> } =
    processes > 1
      ? await startProcesses(config, log, processes, mongoUri)
      : await (await server()).startVerdict(config, { log, mongoUri, processes: 1, ...(consoleDevSignIn ? { consoleDevSignIn } : {}) });
  if (devApiKey) {
    process.stderr.write(
      `\nVerdict (dev profile) is serving on ${running.address}\n` +
        `  health and metrics: ${running.adminUrl}/readyz and ${running.adminUrl}/metrics\n` +
        (config.console.enabled ? `  console: ${running.adminUrl}/console/ (development sign-in)\n` : "") +
        `  development API key: ${devApiKey}\n` +
        `  (verdict check uses it by default; mint tokens with: verdict dev-token --sub alice --client-id agent-1 --scope "invoices:read")\n` +
        `  development authorization server (OAuth for MCP clients; no real sign-in, development only): ${authorizationServer?.issuer}\n\n`,
    );
  }

  let failure: Error | undefined;
  void running.failed?.then((error) => {
    failure = error;
    log.fatal({ err: error.message }, "stopping");
    shutdown.ask("failure");
  });
  await shutdown.stopWith(
    async (signal) => {
      log.info({ signal }, "shutting down: no new calls; finishing calls in flight, then writing every audit record");
      await running.stop().catch((error: unknown) => log.error({ err: error }, "error while stopping"));
      await closeOpened().catch((error: unknown) => log.error({ err: error }, "error while closing the database or the authorization server"));
    },
    // Exiting now could lose audit records still in memory; the shutdown is bounded by audit.write_timeout_ms.
    (signal) => log.warn({ signal }, "already shutting down: writing the last audit records (SIGKILL abandons them)"),
  );
  if (failure) throw failure;
  if (shutdown.faulted) throw faultStopped();
}

/** Logs an exception nothing caught, which stops the process (Shutdown.stopOnFaults). */
function reportFault(log: Logger): (error: unknown, first: boolean) => void {
  return (error, first) =>
    log.fatal(
      { err: error },
      first
        ? "an exception nothing caught: stopping (calls in flight finished, every audit record written), then exiting in error"
        : "another exception nothing caught while stopping",
    );
}

const faultStopped = () => new VerdictError("internal", "stopped after an exception nothing caught (the log above says where)");

/** The primary of several processes (src/cluster/primary.ts): they serve, it supervises. */
async function startProcesses(config: Config, log: Logger, processes: number, mongoUri: string): Promise<RunningCluster> {
  const running = await startCluster({
    processes,
    log,
    // What every process serves with: this configuration, validated once, and its database (one this primary started, local-mongo, too).
    configuration: { ...config, mongodb_uri: mongoUri } satisfies Config,
    consoleProcess: config.console.enabled,
    // The primary accepts every gRPC connection and hands it to the process with the fewest.
    grpc: { host: config.listen.host, port: config.listen.port, maxConnections: config.max_connections },
    // admin_listen for every process: /readyz from their readiness, /metrics from theirs gathered, /console/ forwarded to its
    // process, and what a deciding process answers (the Shared Signals receiver, the approval pages) to one of them in turn.
    serveAdmin: async (readiness, metrics, consoleUrl, workerUrl) => {
      const { forwardRoutes, healthRoutes, metricsRoutes, SSF_EVENTS_PATH, startAdminServer } = await import("../server/admin/index.js");
      const routes = [
        healthRoutes(readiness),
        metricsRoutes(metrics),
        forwardRoutes({ paths: [SSF_EVENTS_PATH, "/approvals/*"], target: workerUrl, process: "a Verdict process", unavailable: "process_unavailable", log }),
        ...(config.console.enabled
          ? [
              forwardRoutes({
                paths: ["/console", "/console/*"],
                target: consoleUrl,
                process: "the console's process",
                unavailable: "console_unavailable",
                log,
              }),
            ]
          : []),
      ];
      return startAdminServer({ ...config.admin_listen, routes, log });
    },
  });
  log.info(
    {
      address: running.address,
      admin: running.adminUrl,
      processes,
      ...(config.console.enabled ? { console: `${running.adminUrl}/console/` } : {}),
      apis: config.apis.map((a) => a.name),
      issuers: config.issuers.map((i) => i.issuer),
    },
    "verdict is serving",
  );
  return running;
}

/** The development profile's one-click console sign-in, for the process that serves the console; undefined otherwise. */
async function devConsoleSignIn(config: Config, stateDir: string): Promise<(() => Promise<{ token: string; expiresIn: number }>) | undefined> {
  return config.profile === "dev" && config.console.enabled ? (await dev()).devConsoleSignIn(stateDir, config.console.audience) : undefined;
}

/** A deciding process starts its private admin listener when every process serves, or after this at the latest. */
const ADMIN_START_WAIT_MS = 10_000;

/** One of the primary's processes: serves until the primary (or a signal, or the primary's loss) says stop. */
async function serveWorker(role: "worker" | "console", stateDir: string, shutdown: Shutdown): Promise<void> {
  tuneServingProcess();
  // The server's modules load while the primary answers (its own start keeps it busy too).
  const loading = server();
  loading.catch(() => undefined); // awaited below; a start that failed first never awaits it
  let config: Config;
  let bundles: KeptBundles | undefined;
  try {
    // The primary's own, validated as it started (startProcesses): a JSON copy of the Config.
    const answer = await primaryConfiguration();
    config = answer.configuration as Config;
    bundles = answer.bundles;
  } catch (error) {
    leavePrimary(); // so that it exits in error, and the primary says it did not start
    throw error;
  }
  const log = createLogger(config.log_level).child({ pid: process.pid, ...(role === "console" ? { role } : {}) });
  // The console's process offers the development sign-in the single process would.
  const consoleDevSignIn = role === "console" ? await devConsoleSignIn(config, stateDir) : undefined;
  if (role === "console" && !yieldToDecisions()) log.warn("could not lower the console process's CPU priority; it shares the CPUs with decisions as an equal");
  if (config.mongodb_uri === undefined) throw new VerdictError("config_invalid", "a Verdict process needs the database its primary uses");
  // From the moment it serves, a stop is kept for when the start has finished: asked by the
  // primary, by a signal, or by the primary's loss (its calls and audit records are then still
  // finished and written, where Node's cluster would end the process at once).
  const hearStops = (registry: Registry): PrimaryRequests => {
    const requests = answerPrimary(registry, () => shutdown.ask("asked by the primary"));
    shutdown.onSignals().stopOnFaults(reportFault(log));
    stopWhenPrimaryGone(() => {
      if (shutdown.complete) return false;
      shutdown.ask("the primary is gone");
      return true;
    });
    return requests;
  };
  // The primary listens for gRPC (on the port it chose, for listen's port 0) and hands this process connections.
  const grpcPort = role === "worker" ? primaryGrpcPort(process.env) : undefined;
  let verdict: RunningVerdict;
  let stopHeard = false;
  try {
    // The primary started processCount(config.processes) deciding processes (and, with the console on, the console's).
    verdict = await (
      await loading
    ).startVerdict(grpcPort === undefined ? config : { ...config, listen: { ...config.listen, port: grpcPort } }, {
      log,
      mongoUri: config.mongodb_uri,
      role,
      primaryAdminUrl: primaryAdminUrl(),
      // Each load of the active bundle copied where the primary says, and the last good copy served when the bundle does not load now.
      ...(bundles ? { bundleCopies: { ...bundles, kept: reportKeptBundle } } : {}),
      processes: processCount(config.processes),
      // A deciding process tells the primary it serves, and starts its private admin listener once every process does.
      ...(grpcPort === undefined ? {} : { grpcFromPrimary: true }),
      onServing: async ({ address, readiness, registry, inject }) => {
        if (inject) acceptConnections(inject);
        const requests = hearStops(registry);
        stopHeard = true;
        reportServing(address, readiness);
        await requests.allServing(ADMIN_START_WAIT_MS);
      },
      ...(consoleDevSignIn ? { consoleDevSignIn } : {}),
    });
  } catch (error) {
    log.fatal({ err: error instanceof Error ? error.message : String(error) }, "this Verdict process could not start");
    leavePrimary();
    throw error;
  }
  if (!stopHeard) hearStops(verdict.metrics.registry);
  reportAdminUrl(verdict.adminUrl, role);
  await shutdown.stopWith(async (why) => {
    log.info({ why }, "stopping this process: finishing calls in flight, then writing every audit record");
    reportStopping();
    await verdict.stop().catch((error: unknown) => log.error({ err: error }, "error while stopping"));
  });
  if (shutdown.faulted) {
    // In error: the primary starts another (Node's cluster would end a process that leaves it any other way with 0).
    leavePrimary();
    throw faultStopped();
  }
  // Node's cluster then ends the process; without a primary, it ends when nothing is left to do.
  if (process.connected) process.disconnect();
}
