// The composition root: builds every stage from the validated Config and serves.
import { maskRulesFrom, MaskRuleError, openAuditLog, type AuditLog, type AuditStore } from "../audit/index.js";
import type { Config } from "../config/index.js";
import { Decider } from "../decide/index.js";
import type { Logger } from "../observability/index.js";
import { loadBundle, PolicyEngine } from "../policy/index.js";
import { StateStore } from "../state/index.js";
import { IssuerRegistry, TokenVerifier } from "../token/index.js";
import { CallerRegistry } from "./callers.js";
import { auditQueryHandler } from "./audit-service.js";
import { startGrpcServer } from "./grpc.js";

export interface RunningVerdict {
  port: number;
  address: string;
  policyRevision: string;
  /** The audit trail; undefined when the configuration disables it. */
  audit: AuditLog | undefined;
  /** Stops taking calls, finishes those in flight, writes (or spills) every audit record, then closes. */
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

  let audit: AuditLog | undefined;
  let auditStore: AuditStore | undefined;
  if (config.audit.enabled) {
    try {
      maskRulesFrom(engine.data); // masking rules that do not fit are refused now, not at the first record
    } catch (error) {
      if (error instanceof MaskRuleError) throw new Error(`policy bundle ${bundle.source}: ${error.message}`);
      throw error;
    }
    ({ audit, store: auditStore } = openAuditLog({ config: config.audit, mongoUri, database: config.mongo.database, log }));
  } else {
    log.warn("[AUDIT DISABLED] audit.enabled is false: decisions are not recorded");
  }

  const verifier = new TokenVerifier(IssuerRegistry.fromConfig(config.issuers), config.token);
  const state = StateStore.open({ uri: mongoUri, database: config.mongo.database, timeoutMs: config.mongo.timeoutMs, log });
  state.prepareInBackground();

  const decider = new Decider({ verifier, policies: { current: () => engine }, state, log, ...(audit ? { audit } : {}) });
  const callers = new CallerRegistry(config.apis);
  let grpcServer;
  try {
    grpcServer = await startGrpcServer({
      host: config.listen.host,
      port: config.listen.port,
      decider,
      callers,
      log,
      auditQuery: auditQueryHandler({ store: auditStore, callers, grants: config.audit.queryGrants, log }),
    });
  } catch (error) {
    await audit?.close();
    await state.close();
    throw error;
  }
  const address = `${config.listen.host}:${grpcServer.port}`;
  log.info({ address, apis: config.apis.map((a) => a.name), issuers: config.issuers.map((i) => i.issuer) }, "verdict is serving");
  return {
    port: grpcServer.port,
    address,
    policyRevision: engine.revision,
    audit,
    async stop() {
      // In this order: no new calls, calls in flight answered (and their records
      // taken), every record written or spilled, then the connections closed.
      await grpcServer.shutdown();
      await audit?.close();
      await state.close();
      log.info("verdict stopped");
    },
  };
}
