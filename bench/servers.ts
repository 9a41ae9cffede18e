// The servers of one scenario, started fresh for it: Verdict (or the echo floor) and,
// where the scenario has a peer, Cerbos. Each is described the way the runs need it:
// where it listens, which process to measure, how ghz calls it, and what it is sent.
import type { Db } from "mongodb";
import type { GhzCall } from "./ghz.js";
import type { ProbeTargets } from "./probe.js";
import { cerbosFloodRequests, floodRequests, type Scenario, type Tokens } from "./scenarios.js";
import { startCerbos } from "./targets/cerbos.js";
import { startEcho } from "./targets/echo.js";
import { startBenchVerdict, type VerdictSetup } from "./targets/verdict.js";
import type { TargetName } from "./types.js";
import type { BenchDatabase } from "./database.js";
import type { TestIssuer } from "../test/support/issuer.js";

export interface Server {
  target: TargetName;
  address: string;
  /** The process whose tree is measured. */
  pid: number;
  call: GhzCall;
  /** Verdict's database, where its audit trail is. */
  auditDb?: Db;
  /** The valid stream's requests for a run tagged `requestId`. */
  valid(requestId: string): unknown[];
  /** The flood's requests, in a flood scenario. */
  flood?(requestId: string): unknown[];
}

export interface ScenarioServers {
  servers: Server[];
  /** From spawn to ready, per server (ms). */
  ready: Record<string, number>;
  probeTargets: ProbeTargets;
  /** Stops every server started (also after a failed start); drops Verdict's database. */
  stop: () => Promise<void>;
}

export interface ServerDeps {
  verdict: Omit<VerdictSetup, "mongoUri">;
  database: BenchDatabase;
  issuer: TestIssuer;
  tokens: Tokens;
  /** Run Cerbos beside Verdict where the scenario has a peer. */
  peer: boolean;
}

export async function startServers(scenario: Scenario, deps: ServerDeps): Promise<ScenarioServers> {
  const { tokens } = deps;
  const stops: (() => Promise<void>)[] = [];
  const servers: Server[] = [];
  const ready: Record<string, number> = {};
  const probeTargets: ProbeTargets = {};
  const stop = async () => {
    for (const one of stops.splice(0).reverse()) await one().catch(() => {});
  };
  try {
    if (scenario.echo) {
      const echo = await startEcho(deps.verdict.dir);
      stops.push(() => echo.stop());
      ready["echo"] = echo.process.readyMs;
      probeTargets.echo = { address: echo.address };
      servers.push({ target: "echo", address: echo.address, pid: echo.process.pid, call: echo.call, valid: (id) => scenario.verdict(tokens, id) });
    } else {
      const verdict = await startBenchVerdict({ ...deps.verdict, mongoUri: deps.database.uri }, scenario.id, scenario.verdictConfig);
      const auditDb = deps.database.client.db(verdict.database);
      stops.push(async () => {
        await verdict.stop();
        await auditDb.dropDatabase().catch(() => {});
      });
      ready["verdict"] = verdict.process.readyMs;
      probeTargets.verdict = { address: verdict.address, apiKey: verdict.apiKey };
      servers.push({
        target: "verdict",
        address: verdict.address,
        pid: verdict.process.pid,
        call: verdict.call(scenario.items > 1 ? "CheckBatch" : "Check"),
        auditDb,
        valid: (id) => scenario.verdict(tokens, id),
        ...(scenario.flood ? { flood: (id: string) => floodRequests(tokens, id) } : {}),
      });
    }
    const cerbosRequests = scenario.cerbos;
    if (scenario.peer && deps.peer && cerbosRequests) {
      const cerbos = await startCerbos(deps.verdict.dir, deps.issuer, scenario.id);
      stops.push(() => cerbos.stop());
      ready["cerbos"] = cerbos.process.readyMs;
      probeTargets.cerbos = { httpUrl: cerbos.httpUrl };
      servers.push({
        target: "cerbos",
        address: cerbos.address,
        pid: cerbos.process.pid,
        call: cerbos.call,
        valid: () => cerbosRequests(tokens),
        ...(scenario.flood ? { flood: () => cerbosFloodRequests(tokens) } : {}),
      });
    }
  } catch (error) {
    await stop();
    throw error;
  }
  return { servers, ready, probeTargets, stop };
}
