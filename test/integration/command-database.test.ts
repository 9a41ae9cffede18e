// A command's database (`verdict audit query`, `directory load`, `policy replay`):
// a small pool. The server keeps its whole pool open (minPoolSize), which a command
// run from a script against a shared database must not copy: it would open that many
// connections for a few calls. Counted on a database of its own (local-mongo's
// serverStatus does not count connections: the kernel's table of TCP connections
// does), so that no other test's connections are counted.
import { readFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { COMMAND_POOL_SIZE, openCommandDatabase } from "../../src/cli/local-database.js";
import { defineCollection } from "../../src/database/index.js";
import { startLocalMongo, type MongoServerProcess } from "../../src/dev/index.js";

let server: MongoServerProcess;

beforeAll(async () => {
  server = await startLocalMongo({});
});

afterAll(async () => {
  await server?.stop();
});

/** Established TCP connections to the server's port (/proc/net/tcp and tcp6: remote address, state 01). */
function openConnections(): number {
  const port = new URL(server.uri).port;
  const hexPort = Number(port).toString(16).toUpperCase().padStart(4, "0");
  let count = 0;
  for (const table of ["/proc/net/tcp", "/proc/net/tcp6"]) {
    let text: string;
    try {
      text = readFileSync(table, "utf8");
    } catch {
      continue; // no IPv6 table
    }
    for (const line of text.split("\n").slice(1)) {
      const [, , remote, state] = line.trim().split(/\s+/);
      if (remote?.endsWith(`:${hexPort}`) && state === "01") count += 1;
    }
  }
  return count;
}

describe("a command's database", () => {
  it("opens a pool of COMMAND_POOL_SIZE connections, not the server's, and its calls still all complete", async () => {
    expect(COMMAND_POOL_SIZE).toBeLessThanOrEqual(4);
    const before = openConnections();
    const database = await openCommandDatabase(undefined, { MONGODB_URI: server.uri }, "command_pool");
    try {
      expect(database.source).toBe("MONGODB_URI");
      expect(database.db.poolSize).toBe(COMMAND_POOL_SIZE);
      const collection = database.db.collection(defineCollection<{ _id: number }>({ name: "things", indexes: [] }));
      // More calls at once than the pool holds: they queue in the driver and all complete.
      await Promise.all(Array.from({ length: 20 }, (_, i) => collection.insertOne({ _id: i })));
      expect(await collection.countDocuments()).toBe(20);
      // The driver fills a pool to its minimum in the background: watch it for a second.
      let most = 0;
      for (let i = 0; i < 10; i++) {
        most = Math.max(most, openConnections() - before);
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      // The pool, and the driver's monitoring connections (one or two).
      expect(most).toBeGreaterThan(0);
      expect(most).toBeLessThanOrEqual(COMMAND_POOL_SIZE + 2);
    } finally {
      await database.close();
    }
  });
});
