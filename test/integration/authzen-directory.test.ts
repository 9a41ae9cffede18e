// The AuthZEN directory against MongoDB over the wire: loading (whole-entry
// replacement, --replace, expiry), lookups, its indexes, and the file format.
import type { MongoClient } from "mongodb";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Database } from "../../src/database/index.js";
import { DIRECTORY_COLLECTION, DirectoryFileError, DirectoryStore, DirectoryUnavailableError, parseDirectory } from "../../src/directory/index.js";
import { silentLogger } from "../../src/observability/index.js";
import { DEFAULT_SEARCH_READ_TIMEOUT_MS } from "../../src/server/authzen/config.js";
import { DEFAULT_STATE_TIMEOUT_MS, StateCalls } from "../../src/state/index.js";
import { holdLoopAfter } from "../support/busy.js";
import { startDelayProxy } from "../support/delay-proxy.js";
import { connectTestClient, mongoUri, uniqueDatabaseName } from "../support/mongo.js";

let mongo: MongoClient;
let db: Database;
let store: DirectoryStore;
let database: string;

beforeAll(async () => {
  mongo = await connectTestClient();
  database = uniqueDatabaseName("directory");
  db = Database.open({ uri: mongoUri(), database, log: silentLogger() });
  store = new DirectoryStore(db, { lookups: new StateCalls(DEFAULT_STATE_TIMEOUT_MS, silentLogger()), readTimeoutMs: DEFAULT_SEARCH_READ_TIMEOUT_MS });
});
afterAll(async () => {
  await db?.close();
  await mongo?.db(database).dropDatabase();
  await mongo?.close();
});

const file = (raw: object) => parseDirectory(raw);
const key = (kind: "subject" | "resource" | "action", type: string, id: string) => ({ kind, type, id });
const scanAll = async (kind: "subject" | "resource" | "action", type: string, now = new Date()) => {
  const ids: string[] = [];
  for await (const batch of store.scan(kind, type, undefined, now, 100)) ids.push(...batch.map((e) => e.id));
  return ids;
};

describe("the directory", () => {
  it("loads subjects, resources and actions, and looks them up in one call", async () => {
    const loaded = await store.load(
      file({
        $comment: "ignored",
        subjects: [
          { type: "user", id: "alice", properties: {} },
          { type: "user", id: "bob", properties: { role: "admin" } },
        ],
        resources: [{ type: "record", id: "record-1", properties: { status: "active" } }],
        actions: [{ name: "read" }, { name: "delete", properties: { soft: { type: "boolean" } } }],
      }),
    );
    expect(loaded).toEqual({ subjects: 2, resources: 1, actions: 2, removed: 0 });
    const found = await store.lookup(
      [key("subject", "user", "bob"), key("subject", "user", "carol"), key("resource", "record", "record-1"), key("action", "action", "delete")],
      new Date(),
    );
    expect([...found.keys()].sort()).toEqual(["action/action/delete", "resource/record/record-1", "subject/user/bob"]);
    expect(found.get("subject/user/bob")?.properties).toEqual({ role: "admin" });
    expect(found.get("action/action/delete")?.properties).toEqual({ soft: { type: "boolean" } });
  });

  it("replaces an entry whole when it is loaded again", async () => {
    await store.load(file({ subjects: [{ type: "user", id: "bob", properties: { team: "blue" } }] }));
    const found = await store.lookup([key("subject", "user", "bob")], new Date());
    expect(found.get("subject/user/bob")?.properties).toEqual({ team: "blue" });
  });

  it("with replace, removes every entry the file does not name", async () => {
    const loaded = await store.load(file({ subjects: [{ type: "user", id: "alice" }] }), { replace: true });
    expect(loaded.removed).toBe(4);
    expect(await scanAll("subject", "user")).toEqual(["alice"]);
    expect(await scanAll("resource", "record")).toEqual([]);
  });

  it("lets entries expire: lookups and scans skip them, and a sweep deletes them", async () => {
    const now = new Date();
    await store.load(
      file({
        resources: [
          { type: "doc", id: "short-lived" },
          { type: "doc", id: "kept" },
        ],
      }),
      { now },
    );
    await store.load(file({ resources: [{ type: "doc", id: "short-lived" }] }), { ttlMs: 60_000, now });
    const later = new Date(now.getTime() + 61_000);
    expect([...(await store.lookup([key("resource", "doc", "short-lived")], now)).keys()]).toEqual(["resource/doc/short-lived"]);
    expect([...(await store.lookup([key("resource", "doc", "short-lived")], later)).keys()]).toEqual([]);
    expect(await scanAll("resource", "doc", later)).toEqual(["kept"]);
    expect(await store.sweep(later)).toBe(1);
    expect(await mongo.db(database).collection(DIRECTORY_COLLECTION).countDocuments({ type: "doc" })).toBe(1);
  });

  it("declares its indexes next to it: one for search in id order (unique), one TTL for expiry", async () => {
    await store.ensureIndexes();
    const indexes = await mongo.db(database).collection(DIRECTORY_COLLECTION).listIndexes().toArray();
    const byName = Object.fromEntries(indexes.map((i) => [i["name"], i]));
    expect(byName["kind_type_id"]).toMatchObject({ key: { kind: 1, type: 1, id: 1 }, unique: true });
    expect(byName["expires_at_ttl"]).toMatchObject({ key: { expires_at: 1 }, expireAfterSeconds: 0 });
  });
});

describe("a lookup on the decision path, at the default state deadline", () => {
  /** A store on its own connection, whose lookups go by the state calls' deadline at its default. */
  const storeAt = (uri: string, onCommand?: (name: string) => void) => {
    const own = Database.open({ uri, database, log: silentLogger(), ...(onCommand ? { onCommand } : {}) });
    return {
      own,
      store: new DirectoryStore(own, { lookups: new StateCalls(DEFAULT_STATE_TIMEOUT_MS, silentLogger()), readTimeoutMs: DEFAULT_SEARCH_READ_TIMEOUT_MS }),
    };
  };

  it("is answered when the database answered in time but the process was too busy to take the answer in before the deadline", async () => {
    await store.load(file({ subjects: [{ type: "user", id: "busy" }] }));
    // Once the find is on its way, the event loop is held twice the deadline (a flood of requests being parsed): the
    // database's answer waits in the socket meanwhile. A fixed timer fired first and refused it, directory_unavailable.
    const holder = holdLoopAfter("find", 2 * DEFAULT_STATE_TIMEOUT_MS);
    const { own, store: busy } = storeAt(mongoUri(), (name) => holder.onCommand(name));
    try {
      const found = await busy.lookup([key("subject", "user", "busy")], new Date());
      expect(holder.held).toBe(1);
      expect([...found.keys()]).toEqual(["subject/user/busy"]);
    } finally {
      await own.close();
    }
  });

  it("is refused directory_unavailable once the database has been silent for the deadline, and the store keeps serving after", async () => {
    const target = new URL(mongoUri());
    const proxy = await startDelayProxy({ host: target.hostname, port: Number(target.port) });
    const { own, store: slow } = storeAt(`mongodb://${proxy.address}/?directConnection=true`);
    try {
      const alice = async () => [...(await slow.lookup([key("subject", "user", "alice")], new Date())).keys()];
      expect(await alice()).toEqual(["subject/user/alice"]);
      proxy.setDelay(10 * DEFAULT_STATE_TIMEOUT_MS);
      const started = performance.now();
      const refused = await alice().catch((error: unknown) => error);
      expect(refused).toBeInstanceOf(DirectoryUnavailableError);
      expect(refused).toMatchObject({
        code: "directory_unavailable",
        message: expect.stringMatching(/^directory lookup: the database has not answered for 500 ms/),
      });
      expect(performance.now() - started).toBeLessThan(4 * DEFAULT_STATE_TIMEOUT_MS);
      proxy.setDelay(0);
      await expect.poll(() => alice().catch(() => []), { timeout: 15_000 }).toEqual(["subject/user/alice"]);
    } finally {
      await own.close();
      await proxy.close();
    }
  });
});

describe("directory files", () => {
  it.each([
    [
      "a subject listed twice",
      {
        subjects: [
          { type: "user", id: "a" },
          { type: "user", id: "a" },
        ],
      },
      /listed twice/,
    ],
    ["a type outside the character set", { resources: [{ type: "a b", id: "x" }] }, /type/],
    ["an id with a control character", { subjects: [{ type: "user", id: "a\u0001" }] }, /id/],
    ["an action name with a space", { actions: [{ name: "read all" }] }, /name/],
    [
      "properties nested too deep",
      { subjects: [{ type: "user", id: "a", properties: { a: { b: { c: { d: { e: { f: { g: { h: { i: 1 } } } } } } } } } }] },
      /nested deeper/,
    ],
    ["properties that are not an object", { subjects: [{ type: "user", id: "a", properties: [1] }] }, /properties/],
    ["subjects that are not a list", { subjects: { alice: {} } }, /subjects/],
  ])("refuses %s", (_name, raw, message) => {
    expect(() => parseDirectory(raw)).toThrow(DirectoryFileError);
    expect(() => parseDirectory(raw)).toThrow(message);
  });
});
