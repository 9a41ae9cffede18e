// Database servers the tests start beside the pinned local-mongo: mongod when it is
// on PATH, and a free loopback port for a server that must come back on the same one.
import { spawn, spawnSync } from "node:child_process";
import { mkdirSync } from "node:fs";
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

/**
 * The port a database server listens on. Start it on port 0 and read the port here,
 * rather than picking a free port first: another process can take a picked port before
 * the server binds it. Only a server restarted on the same port needs the port again.
 */
export function portOf(server: MongoServerProcess): number {
  return Number(new URL(server.uri).port);
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      server.close(() => (typeof address === "object" && address ? resolve(address.port) : reject(new Error("no port"))));
    });
  });
}
