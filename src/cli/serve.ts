import { resolve } from "node:path";
import { loadConfigFile, stateDirFrom, type Config, type Environment } from "../config/index.js";
import {
  demoPolicyAcrLevels,
  demoPolicyScopes,
  DEV_API_AUDIENCE,
  devAuthorizationListen,
  devConfig,
  removeDevAuthorizationFile,
  startDevAuthorizationServer,
  startLocalMongo,
  writeDevAuthorizationFile,
  type DevAuthorizationServer,
  type MongoServerProcess,
} from "../dev/index.js";
import { createLogger } from "../observability/index.js";
import { startVerdict } from "../server/index.js";
import { parseOptions, UsageError } from "./args.js";
import { localDatabasePath, removeLocalDatabaseFile, writeLocalDatabaseFile } from "./local-database.js";

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

  const stateDir = stateDirFrom(env);
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
  let authorizationServer: DevAuthorizationServer | undefined;
  if (options.profile === "dev") {
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
  if (config.profile === "dev") {
    log.warn("[DEV PROFILE] development issuer and API key from .verdict/; never use this profile in production");
    log.warn(
      { issuer: authorizationServer?.issuer },
      "[DEV AUTHORIZATION SERVER] no real sign-in: anyone on this machine can get tokens from it; development only",
    );
  }

  let database: MongoServerProcess | undefined;
  let mongoUri = config.mongodb_uri;
  if (mongoUri === undefined) {
    database = await startLocalMongo({ dbpath: localDatabasePath(stateDir) });
    mongoUri = database.uri;
    // local-mongo locks its data file: other commands (verdict audit query) find
    // this server through the file instead of opening the data themselves.
    writeLocalDatabaseFile(stateDir, mongoUri);
    log.info({ uri: mongoUri, data: localDatabasePath(stateDir) }, "started local-mongo (set MONGODB_URI to use another server)");
  }
  const stopDatabase = async () => {
    if (authorizationServer) {
      removeDevAuthorizationFile(stateDir);
      await authorizationServer.close();
    }
    if (!database) return;
    removeLocalDatabaseFile(stateDir);
    await database.stop();
  };

  let verdict;
  try {
    verdict = await startVerdict(config, { log, mongoUri });
  } catch (error) {
    await stopDatabase();
    throw error;
  }
  if (devApiKey) {
    process.stderr.write(
      `\nVerdict (dev profile) is serving on ${verdict.address}\n` +
        `  health and metrics: ${verdict.adminUrl}/readyz and ${verdict.adminUrl}/metrics\n` +
        `  development API key: ${devApiKey}\n` +
        `  (verdict check uses it by default; mint tokens with: verdict dev-token --sub alice --client-id agent-1 --scope "invoices:read")\n` +
        `  development authorization server (OAuth for MCP clients; no real sign-in, development only): ${authorizationServer?.issuer}\n\n`,
    );
  }

  await new Promise<void>((resolve) => {
    let stopping = false;
    const stop = (signal: string) => {
      if (stopping) {
        // Exiting now could lose audit records still in memory; the shutdown is bounded by audit.write_timeout_ms.
        log.warn({ signal }, "already shutting down: writing the last audit records (SIGKILL abandons them)");
        return;
      }
      stopping = true;
      log.info({ signal }, "shutting down: no new calls; finishing calls in flight, then writing every audit record");
      void verdict
        .stop()
        .catch((error: unknown) => log.error({ err: error }, "error while stopping"))
        .then(stopDatabase)
        .finally(resolve);
    };
    process.on("SIGINT", () => stop("SIGINT"));
    process.on("SIGTERM", () => stop("SIGTERM"));
  });
}
