// The pinned local-mongo launcher's contract: 127.0.0.1 only, --dbpath persists,
// memory otherwise, stops on SIGTERM.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { MongoClient } from "mongodb";
import { describe, expect, it } from "vitest";
import { localMongoAvailable, startLocalMongo } from "../../src/dev/index.js";

async function withClient<T>(uri: string, use: (client: MongoClient) => Promise<T>): Promise<T> {
  const client = new MongoClient(uri, { serverSelectionTimeoutMS: 5_000 });
  try {
    return await use(client);
  } finally {
    await client.close();
  }
}

describe("local-mongo", () => {
  it("is built by npm run tools", () => {
    expect(localMongoAvailable()).toBe(true);
  });

  it("keeps data in --dbpath across a SIGTERM and a restart", async () => {
    const dbpath = mkdtempSync(join(tmpdir(), "verdict-local-mongo-"));
    try {
      const first = await startLocalMongo({ dbpath });
      expect(first.uri).toMatch(/^mongodb:\/\/127\.0\.0\.1:\d+\//);
      await withClient(first.uri, (c) => c.db("persist").collection("docs").insertOne({ _id: "kept" as never, n: 1 }));
      await first.stop();

      const second = await startLocalMongo({ dbpath });
      const doc = await withClient(second.uri, (c) => c.db("persist").collection("docs").findOne({ _id: "kept" as never }));
      await second.stop();
      expect(doc?.["n"]).toBe(1);
    } finally {
      rmSync(dbpath, { recursive: true, force: true });
    }
  });

  it("keeps data in memory only without --dbpath", async () => {
    const first = await startLocalMongo();
    await withClient(first.uri, (c) => c.db("mem").collection("docs").insertOne({ n: 1 }));
    await first.stop();
    const second = await startLocalMongo();
    const count = await withClient(second.uri, (c) => c.db("mem").collection("docs").countDocuments());
    await second.stop();
    expect(count).toBe(0);
  });
});
