// The composition root: builds every stage from the validated Config and serves.
import type { Config } from "../config/index.js";
import { Decider } from "../decide/index.js";
import type { Logger } from "../observability/index.js";
import { loadBundle, PolicyEngine } from "../policy/index.js";
import { StateStore } from "../state/index.js";
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

export async function startVerdict(config: Config, { log, mongoUri }: StartOptions): Promise<RunningVerdict> {
  const bundle = await loadBundle(config.bundlePath);
  const engine = await PolicyEngine.load(bundle);
  log.info({ revision: engine.revision, bundle: bundle.source }, "policy bundle loaded");

  const verifier = new TokenVerifier(IssuerRegistry.fromConfig(config.issuers), config.token);
  const state = StateStore.open({ uri: mongoUri, database: config.mongo.database, timeoutMs: config.mongo.timeoutMs, log });
  state.prepareInBackground();

  const decider = new Decider({ verifier, policies: { current: () => engine }, state, log });
  let grpcServer;
  try {
    grpcServer = await startGrpcServer({
      host: config.listen.host,
      port: config.listen.port,
      decider,
      callers: new CallerRegistry(config.apis),
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
