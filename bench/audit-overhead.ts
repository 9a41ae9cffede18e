// npm run bench:audit: the median Check latency with the audit trail on and with it
// off, side by side in one run (docs/audit.md#overhead). Two real Verdict processes
// (`verdict serve --config`, identical but for audit.enabled, default configuration
// otherwise, the demo bundle) share one database (MONGODB_URI, else an in-memory
// local-mongo); the client alternates rounds between them (on/off, then off/on, ...)
// so drift on a shared machine hits both, and pauses between rounds so one server's
// background writes do not land in the other's round. Prints both medians and their
// ratio; exits 1 when the ratio is over --max-ratio (default 1.10) or when the
// audited server did not write exactly one record per Check.
//
//   npm run bench:audit -- [--rounds 30] [--requests 200] [--concurrency 4] [--warmup 2000] [--pause-ms 500] [--max-ratio 1.10]
//
// Many short rounds, each next to one of the other server, because the load of a
// shared machine moves by the second; the warm-up brings both servers and the
// database (a JVM) to steady state first.
import { mkdtempSync, rmSync } from "node:fs";
import { cpus, loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { parseArgs } from "node:util";
import { defaultBundlePath } from "../src/paths.js";
import { TestClient, type CheckArgs } from "../test/support/grpc.js";
import { createTestIssuer } from "../test/support/issuer.js";
import { startDatabase } from "./database.js";
import { treeCpuMs } from "./procfs.js";
import { startBenchVerdict, type RunningVerdict } from "./targets/verdict.js";

const { values: args } = parseArgs({
  options: {
    rounds: { type: "string", default: "30" },
    requests: { type: "string", default: "200" },
    concurrency: { type: "string", default: "4" },
    warmup: { type: "string", default: "2000" },
    "max-ratio": { type: "string", default: "1.10" },
    "pause-ms": { type: "string", default: "500" },
  },
});
const ROUNDS = Number(args.rounds);
const REQUESTS = Number(args.requests);
const CONCURRENCY = Number(args.concurrency);
const WARMUP = Number(args.warmup);
const MAX_RATIO = Number(args["max-ratio"]);
const PAUSE_MS = Number(args["pause-ms"]);

type Mode = "on" | "off";
type Kind = "read" | "transfer";

interface Server {
  verdict: RunningVerdict;
  client: TestClient;
  latencies: Record<Kind, number[]>;
  roundMedians: number[];
  calls: number;
  /** Answers other than ALLOW (e.g. DENY state_unavailable under load), by outcome. */
  refusals: Map<string, number>;
}

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))] as number;
}

async function main(): Promise<number> {
  const dir = mkdtempSync(join(tmpdir(), "verdict-bench-audit-"));
  const database = await startDatabase();
  const servers = {} as Record<Mode, Server>;
  try {
    const issuer = await createTestIssuer({ dir });
    for (const mode of ["on", "off"] as const) {
      const verdict = await startBenchVerdict({ issuer, bundle: defaultBundlePath, mongoUri: database.uri, dir }, `audit-${mode}`, {
        audit: { enabled: mode === "on" },
      });
      servers[mode] = {
        verdict,
        client: new TestClient(verdict.address, verdict.apiKey),
        latencies: { read: [], transfer: [] },
        roundMedians: [],
        calls: 0,
        refusals: new Map(),
      };
    }
    process.stderr.write(
      `bench:audit: database ${database.kind}; servers on ${servers.on.verdict.address} (audit on) and ${servers.off.verdict.address} (audit off)\n`,
    );

    // Tokens made up front: a distinct user per transfer keeps every one under its
    // daily limit; a person's app, not an agent (the demo policy rate-limits agents).
    const total = 2 * (WARMUP + ROUNDS * REQUESTS);
    const reader = await issuer.token({ sub: "reader", client_id: "web-app", scope: "invoices:read", exp: Math.floor(Date.now() / 1000) + 7200 });
    const payers: string[] = [];
    for (let i = 0; i < Math.ceil(total / 3) + 1; i++)
      payers.push(await issuer.token({ sub: `payer-${i}`, client_id: "web-app", scope: "payments:write", exp: Math.floor(Date.now() / 1000) + 7200 }));

    // Two thirds reads (no state), one third transfers (a reserve in MongoDB); a
    // context of the size agents send, with fields the default rules mask.
    let sequence = 0;
    const nextRequest = (): { kind: Kind; args: CheckArgs } => {
      const i = sequence++;
      if (i % 3 === 2) {
        return {
          kind: "transfer",
          args: {
            token: payers[Math.floor(i / 3)] as string,
            action: "payments:transfer",
            resource: { type: "account", id: `acc-${i % 50}`, attributes: { owner: { email: "owner@example.com" } } },
            context: { amount: 10, currency: "EUR", card_number: "4111 1111 1111 1111", note: "monthly rent", channel: "agent" },
            requestId: `bench-${i}`,
          },
        };
      }
      return {
        kind: "read",
        args: {
          token: reader,
          action: "invoices:read",
          resource: { type: "invoice", id: `inv-${i % 500}`, attributes: { status: "open", customer: { email: "c@example.com" } } },
          context: { view: "detail", page: 1, filters: { year: 2026 } },
          requestId: `bench-${i}`,
        },
      };
    };

    const round = async (server: Server, count: number, record: boolean) => {
      const latencies: number[] = [];
      let left = count;
      const worker = async () => {
        while (left > 0) {
          left -= 1;
          const { kind, args: request } = nextRequest();
          const started = performance.now();
          const result = await server.client.call(request);
          const elapsed = performance.now() - started;
          if (!result.ok) throw new Error(`Check failed: ${result.code} ${result.details}`);
          server.calls += 1;
          const outcome = [result.response.decision, ...result.response.reasons.map((r) => r.code)].join(" ");
          if (outcome !== "ALLOW") server.refusals.set(outcome, (server.refusals.get(outcome) ?? 0) + 1);
          if (record) {
            server.latencies[kind].push(elapsed);
            latencies.push(elapsed);
          }
        }
      };
      await Promise.all(Array.from({ length: CONCURRENCY }, worker));
      if (record) server.roundMedians.push(percentile(latencies, 50));
    };

    for (const mode of ["on", "off"] as const) await round(servers[mode], WARMUP, false);
    await sleep(PAUSE_MS);
    // CPU time (/proc) of each server and of the database, charged to the mode
    // whose round (and the pause after it) it was spent in.
    const cpu = { on: { server: 0, database: 0 }, off: { server: 0, database: 0 } };
    const databaseCpu = () => (database.pid ? treeCpuMs(database.pid) : NaN);
    for (let r = 0; r < ROUNDS; r++) {
      for (const mode of r % 2 === 0 ? (["on", "off"] as const) : (["off", "on"] as const)) {
        const before = { server: treeCpuMs(servers[mode].verdict.process.pid), database: databaseCpu() };
        await round(servers[mode], REQUESTS, true);
        await sleep(PAUSE_MS); // let this server's background writes finish outside the other's round
        cpu[mode].server += treeCpuMs(servers[mode].verdict.process.pid) - before.server;
        cpu[mode].database += databaseCpu() - before.database;
      }
      if ((r + 1) % 5 === 0 || r + 1 === ROUNDS) process.stderr.write(`bench:audit: round ${r + 1}/${ROUNDS}\n`);
    }

    // Stop both (SIGTERM flushes the trail) and check that audit was really on: one record per Check.
    for (const mode of ["on", "off"] as const) {
      servers[mode].client.close();
      await servers[mode].verdict.stop();
    }
    const records = {
      on: await database.client.db(servers.on.verdict.database).collection("decisions").countDocuments(),
      off: await database.client.db(servers.off.verdict.database).collection("decisions").countDocuments(),
    };

    const all = (s: Server) => [...s.latencies.read, ...s.latencies.transfer];
    const rows: [string, number[], number[]][] = [
      ["all Checks", all(servers.on), all(servers.off)],
      ["invoices:read (no state)", servers.on.latencies.read, servers.off.latencies.read],
      ["payments:transfer (reserve)", servers.on.latencies.transfer, servers.off.latencies.transfer],
    ];
    const fmt = (ms: number) => ms.toFixed(3).padStart(8);
    const out: string[] = [];
    out.push(
      `Check latency, audit on vs off: ${ROUNDS} interleaved rounds of ${REQUESTS} requests per server, concurrency ${CONCURRENCY}, after ${WARMUP} warm-up requests each`,
      "",
    );
    out.push(
      `${"".padEnd(30)}${"median on".padStart(11)}${"median off".padStart(12)}${"ratio".padStart(8)}${"p90 on".padStart(10)}${"p90 off".padStart(10)}${"p99 on".padStart(10)}${"p99 off".padStart(10)}   n`,
    );
    for (const [name, on, off] of rows) {
      const ratio = percentile(on, 50) / percentile(off, 50);
      out.push(
        `${name.padEnd(30)}${fmt(percentile(on, 50))} ms${fmt(percentile(off, 50))} ms${ratio.toFixed(3).padStart(8)}${fmt(percentile(on, 90))}  ${fmt(percentile(off, 90))}  ${fmt(percentile(on, 99))}  ${fmt(percentile(off, 99))}   ${on.length}/${off.length}`,
      );
    }
    const ratio = percentile(all(servers.on), 50) / percentile(all(servers.off), 50);
    // Round by round (round r of one server next to round r of the other): how much the ratio moves with the machine's load.
    const roundRatios = servers.on.roundMedians.map((on, r) => on / (servers.off.roundMedians[r] as number));
    out.push("");
    out.push(
      `round by round (each audit-on round against the audit-off round next to it): median ratio ${percentile(roundRatios, 50).toFixed(3)}, ` +
        `quartiles ${percentile(roundRatios, 25).toFixed(3)}-${percentile(roundRatios, 75).toFixed(3)}, range ${Math.min(...roundRatios).toFixed(3)}-${Math.max(...roundRatios).toFixed(3)} (${roundRatios.length} rounds)`,
    );
    out.push(
      `load average at the end: ${loadavg()
        .map((l) => l.toFixed(2))
        .join(" ")} on ${cpus().length} CPUs`,
    );
    const measured = ROUNDS * REQUESTS;
    const perCheck = (ms: number) => (Number.isNaN(ms) ? "n/a" : `${((ms * 1000) / measured).toFixed(0)} µs`);
    out.push(
      `CPU per Check: Verdict ${perCheck(cpu.on.server)} with audit on, ${perCheck(cpu.off.server)} off; the database ${perCheck(cpu.on.database)} in audit-on rounds, ` +
        `${perCheck(cpu.off.database)} in audit-off rounds${database.pid ? "" : " (not measured: not a local process)"}`,
    );
    for (const mode of ["on", "off"] as const) {
      if (servers[mode].refusals.size > 0)
        out.push(`answers other than ALLOW with audit ${mode}: ${[...servers[mode].refusals].map(([k, n]) => `${k} ${n}`).join("; ")}`);
    }
    out.push(`audit records written: ${records.on} for ${servers.on.calls} Checks with audit on; ${records.off} with audit off`);
    const recordsOk = records.on === servers.on.calls && records.off === 0;
    const pass = ratio <= MAX_RATIO && recordsOk;
    out.push(
      `median ratio (on/off) ${ratio.toFixed(3)}: ${pass ? "PASS" : "FAIL"} (target <= ${MAX_RATIO.toFixed(2)}${recordsOk ? "" : "; record count does not match"})`,
    );
    process.stdout.write(out.join("\n") + "\n");
    return pass ? 0 : 1;
  } finally {
    for (const server of Object.values(servers)) {
      server.client.close();
      await server.verdict.stop();
      await database.client
        .db(server.verdict.database)
        .dropDatabase()
        .catch(() => {});
    }
    await database.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

try {
  process.exitCode = await main();
} catch (error) {
  process.stderr.write(`bench:audit: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exitCode = 1;
}
