// Database servers the tests start beside the pinned local-mongo: mongod when it is
// on PATH, and a free loopback port for a server that must come back on the same one
// (or be started on a port a test names).
import { spawn, spawnSync } from "node:child_process";
import { mkdirSync, readFileSync } from "node:fs";
import { createServer } from "node:net";
import { startServerProcess, type MongoServerProcess } from "../../src/dev/index.js";

export function mongodOnPath(): boolean {
  const probe = spawnSync("mongod", ["--version"], { stdio: "ignore" });
  return !probe.error && probe.status === 0;
}

export async function startMongod(options: { dbpath: string }): Promise<MongoServerProcess> {
  mkdirSync(options.dbpath, { recursive: true });
  const port = await freePort();
  const child = spawn("mongod", ["--port", String(port), "--bind_ip", "127.0.0.1", "--dbpath", options.dbpath, "--quiet"], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  return startServerProcess(child, /Waiting for connections/, "mongod", "mongod", port);
}

/** Where freePort looks: above the well-known and registered ports most services take. */
const LOWEST_PICKED = 10_000;
const PICK_ATTEMPTS = 50;

/**
 * The ports the kernel hands to outgoing connections, and to a listen on port 0
 * (Linux says in /proc; this is its default elsewhere).
 */
export function ephemeralPorts(): { low: number; high: number } {
  try {
    const [low, high] = readFileSync("/proc/sys/net/ipv4/ip_local_port_range", "utf8").trim().split(/\s+/).map(Number);
    if (low !== undefined && high !== undefined && low > 0 && high >= low) return { low, high };
  } catch {
    // not Linux
  }
  return { low: 32_768, high: 60_999 };
}

/**
 * A loopback port that nothing listens on, for a server a test starts (or restarts)
 * on a port it names. Picked below the ephemeral range, where no outgoing connection
 * is ever given a port: a port from listen(0) is in that range, and under a busy suite
 * a client's connection (ghz, a driver's pool) could take it between the pick and the
 * server's bind, or while a test has its database down (a CI run failed so). What is
 * left is another test picking the same port in that moment, among tens of thousands.
 */
export async function freePort(): Promise<number> {
  const { low } = ephemeralPorts();
  if (low - LOWEST_PICKED >= 1_000)
    for (let attempt = 0; attempt < PICK_ATTEMPTS; attempt++) {
      const port = LOWEST_PICKED + Math.floor(Math.random() * (low - LOWEST_PICKED));
      if ((await listenOnce(port)) !== undefined) return port;
    }
  const port = await listenOnce(0);
  if (port === undefined) throw new Error("no free loopback port");
  return port;
}

/** Listens on `port` and closes again: the port it listened on, or undefined when it could not. */
function listenOnce(port: number): Promise<number | undefined> {
  return new Promise((resolve) => {
    const server = createServer();
    server.unref();
    server.once("error", () => resolve(undefined));
    server.listen(port, "127.0.0.1", () => {
      const address = server.address();
      server.close(() => resolve(typeof address === "object" && address ? address.port : undefined));
    });
  });
}
