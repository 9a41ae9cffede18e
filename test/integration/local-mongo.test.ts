// The pinned local-mongo launcher's contract: 127.0.0.1 only, --dbpath persists
// (and nothing acknowledged is lost to a kill -9), memory otherwise, stops on SIGTERM.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { MongoClient, ObjectId } from "mongodb";
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
      await withClient(first.uri, (c) =>
        c
          .db("persist")
          .collection("docs")
          .insertOne({ _id: "kept" as never, n: 1 }),
      );
      await first.stop();

      const second = await startLocalMongo({ dbpath });
      const doc = await withClient(second.uri, (c) =>
        c
          .db("persist")
          .collection("docs")
          .findOne({ _id: "kept" as never }),
      );
      await second.stop();
      expect(doc?.["n"]).toBe(1);
    } finally {
      rmSync(dbpath, { recursive: true, force: true });
    }
  });

  it("keeps every acknowledged write across a kill -9 (durable before it acknowledges)", async () => {
    const dbpath = mkdtempSync(join(tmpdir(), "verdict-local-mongo-"));
    try {
      const first = await startLocalMongo({ dbpath });
      // As the audit trail and the state store write: single inserts, batches, conditional updates.
      const acknowledged = await withClient(first.uri, async (c) => {
        const docs = c.db("durable").collection<{ _id: string; n: number }>("docs");
        let count = 0;
        for (let i = 0; i < 60; i++) {
          await docs.insertOne({ _id: `one-${i}`, n: i });
          count += 1;
        }
        for (let b = 0; b < 5; b++) {
          const batch = Array.from({ length: 50 }, (_, i) => ({ _id: `batch-${b}-${i}`, n: i }));
          // the audit trail asks for journaled writes: those are synced to disk as well
          count += (await docs.insertMany(batch, { ordered: false, ...(b % 2 === 0 ? { writeConcern: { w: "majority", j: true } } : {}) })).insertedCount;
        }
        await docs.updateOne({ _id: "one-0" }, { $inc: { n: 100 } });
        // killed at once, well within the second an autocommit would wait
        process.kill(first.pid as number, "SIGKILL");
        return count;
      });
      await first.stop();
      expect(acknowledged).toBe(310);

      const second = await startLocalMongo({ dbpath });
      const { count, updated } = await withClient(second.uri, async (c) => {
        const docs = c.db("durable").collection<{ _id: string; n: number }>("docs");
        return { count: await docs.countDocuments(), updated: (await docs.findOne({ _id: "one-0" }))?.n };
      });
      await second.stop();
      expect(count).toBe(acknowledged);
      expect(updated).toBe(100);
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

  // Both backends: in memory (tests, the bench) and on disk (--dbpath: npm start, the dev profile).
  it.each([
    ["in memory", false],
    ["on disk, also after a restart", true],
  ])("%s, answers a query on one _id and other conditions as a scan would (its _id index finds the document)", async (_, onDisk) => {
    const dbpath = onDisk ? mkdtempSync(join(tmpdir(), "verdict-local-mongo-")) : undefined;
    let server = await startLocalMongo(dbpath ? { dbpath } : {});
    try {
      await withClient(server.uri, async (c) => {
        const docs = c.db("lookup").collection<{ _id: string | number | ObjectId; total: number; tag?: string }>("docs");
        const oid = new ObjectId();
        await docs.insertMany([
          { _id: "counter", total: 5 },
          { _id: 7, total: 1 },
          { _id: oid, total: 3, tag: "x" },
          ...Array.from({ length: 50 }, (_, i) => ({ _id: `other-${i}`, total: 0 })),
        ]);
        // Found by _id, and the other conditions still decide.
        expect(await docs.findOne({ _id: "counter", total: { $lte: 5 } })).toMatchObject({ total: 5 });
        expect(await docs.findOne({ _id: "counter", total: { $lte: 4 } })).toBeNull();
        expect(await docs.findOne({ _id: 7, total: 1 })).toMatchObject({ _id: 7 });
        expect(await docs.findOne({ _id: 7.0, total: { $gt: 1 } })).toBeNull();
        expect(await docs.findOne({ _id: oid, tag: "x" })).toMatchObject({ total: 3 });
        expect(await docs.findOne({ _id: "absent", total: 0 })).toBeNull();
        // Other shapes of _id are answered as before.
        expect(await docs.countDocuments({ _id: { $in: ["counter", 7] }, total: { $gte: 1 } })).toBe(2);
        expect(await docs.countDocuments({ _id: /^other-1/, total: 0 })).toBe(11);
        // The reservation's conditional update: applied while it fits; once it does not, the upsert
        // finds no match and its insert meets the _id: a duplicate key, never a second document.
        const reserve = (room: number) =>
          docs.findOneAndUpdate({ _id: "counter", total: { $lte: room } }, { $inc: { total: 1 } }, { upsert: true, returnDocument: "before" });
        expect(await reserve(5)).toMatchObject({ total: 5 });
        await expect(reserve(5)).rejects.toMatchObject({ code: 11000 });
        expect(await docs.countDocuments({ _id: "counter" })).toBe(1);
        expect(await docs.findOne({ _id: "counter" })).toMatchObject({ total: 6 });
        expect(await docs.updateOne({ _id: "counter", total: 6 }, { $set: { tag: "y" } })).toMatchObject({ matchedCount: 1 });
        expect(await docs.deleteOne({ _id: "counter", total: 5 })).toMatchObject({ deletedCount: 0 });
        expect(await docs.deleteOne({ _id: "counter", tag: "y" })).toMatchObject({ deletedCount: 1 });
      });
      if (!dbpath) return;
      // Reopened from its file, the collection's index serves such queries as before.
      await server.stop();
      server = await startLocalMongo({ dbpath });
      await withClient(server.uri, async (c) => {
        const docs = c.db("lookup").collection<{ _id: string | number; total: number }>("docs");
        expect(await docs.findOne({ _id: 7, total: 1 })).toMatchObject({ _id: 7 });
        expect(await docs.findOne({ _id: 7, total: 2 })).toBeNull();
        await docs.insertOne({ _id: "counter", total: 0 });
        expect(await docs.findOneAndUpdate({ _id: "counter", total: { $lte: 0 } }, { $inc: { total: 1 } }, { upsert: true })).toMatchObject({ total: 0 });
        await expect(docs.findOneAndUpdate({ _id: "counter", total: { $lte: 0 } }, { $inc: { total: 1 } }, { upsert: true })).rejects.toMatchObject({
          code: 11000,
        });
        expect(await docs.countDocuments({ _id: "counter" })).toBe(1);
      });
    } finally {
      await server.stop();
      if (dbpath) rmSync(dbpath, { recursive: true, force: true });
    }
  });
});
