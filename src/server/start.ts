// The composition root: builds every stage from the validated Config and serves.
import type { Config } from "../config/index.js";
import { Decider } from "../decide/index.js";
import type { Logger } from "../observability/index.js";
import { loadBundle, PolicyEngine } from "../policy/index.js";
import { StateStore, sweepExpired } from "../state/index.js";
import { IssuerRegistry, TokenVerifier } from "../token/index.js";
import { CallerRegistry } from "./callers.js";
import { startGrpcServer } from "./grpc.js";

export interface RunningVerdict {
  port: number;
  address: string;
  policyRevision: string;
  stop(): Promise<void>;
}

export interface StartOptions {
  log: Logger;
  /** The database to use; the CLI resolves config.mongo.uri (or starts local-mongo) first. */
  mongoUri: string;
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

export async function startVerdict(config: Config, { log, mongoUri }: StartOptions): Promise<RunningVerdict> {
  const bundle = await loadBundle(config.bundlePath);
  const engine = await PolicyEngine.load(bundle);
  log.info({ revision: engine.revision, bundle: bundle.source }, "policy bundle loaded");

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

  const decider = new Decider({
    verifier,
    policies: { current: () => engine },
    state,
    dpop: { maxAgeSeconds: config.token.dpopMaxAgeSeconds, skewSeconds: config.token.clockSkewSeconds, maxBytes: config.token.maxBytes },
    log,
  });
  let grpcServer;
  try {
    grpcServer = await startGrpcServer({
      host: config.listen.host,
      port: config.listen.port,
      decider,
      callers: new CallerRegistry(config.apis, config.tls?.clientCaFile !== undefined),
      tls: config.tls,
      maxBatchItems: config.maxBatchItems,
      log,
    });
  } catch (error) {
    await state.close();
    throw error;
  }
  const address = `${config.listen.host}:${grpcServer.port}`;
  log.info({ address, apis: config.apis.map((a) => a.name), issuers: config.issuers.map((i) => i.issuer) }, "verdict is serving");
  return {
    port: grpcServer.port,
    address,
    policyRevision: engine.revision,
    async stop() {
      await grpcServer.shutdown();
      await state.close();
      log.info("verdict stopped");
    },
  };
}
