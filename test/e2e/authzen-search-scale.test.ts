// Search over a directory of 100,000 entities: the directory streams in bounded
// batches (memory holds one batch, not the directory), and search pages are
// cursor-based, so they are stable: the same token gives the same page, pages
// follow each other without gaps or repeats, and entities added meanwhile do not
// shift the pages already handed out.
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import type { MongoClient } from "mongodb";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DIRECTORY_LOAD_TIMEOUT_MS } from "../../src/cli/directory.js";
import { Database } from "../../src/database/index.js";
import { DirectoryStore, parseDirectory } from "../../src/directory/index.js";
import { silentLogger } from "../../src/observability/index.js";
import { DEFAULT_SEARCH_READ_TIMEOUT_MS } from "../../src/server/authzen/config.js";
import { DEFAULT_STATE_TIMEOUT_MS, StateCalls } from "../../src/state/index.js";
import { CERTIFICATION_DIR, exampleBundle, startAuthzenVerdict, type AuthzenVerdict } from "../support/authzen.js";
import { connectTestClient, mongoUri } from "../support/mongo.js";

const ENTITIES = 100_000;
const id = (i: number) => `rec-${String(i).padStart(6, "0")}`;
// Each entry carries some weight, so that holding the directory would show.
const note = "n".repeat(200);

setFlagsFromString("--expose-gc");
const gc = runInNewContext("gc") as () => void;
const heapAfterGc = () => {
  gc();
  return process.memoryUsage().heapUsed;
};

let v: AuthzenVerdict;
let mongo: MongoClient;
let db: Database;
let directory: DirectoryStore;

beforeAll(async () => {
  v = await startAuthzenVerdict({ config: { bundle: await exampleBundle(CERTIFICATION_DIR) } });
  mongo = await connectTestClient();
  db = Database.open({ uri: mongoUri(), database: v.t.database, log: silentLogger() });
  // Read as a server's search reads (its default deadlines); loaded as `verdict directory load` loads.
  directory = new DirectoryStore(db, { lookups: new StateCalls(DEFAULT_STATE_TIMEOUT_MS, silentLogger()), readTimeoutMs: DEFAULT_SEARCH_READ_TIMEOUT_MS });
  const loader = new DirectoryStore(db, { lookups: new StateCalls(DIRECTORY_LOAD_TIMEOUT_MS, silentLogger()), readTimeoutMs: DIRECTORY_LOAD_TIMEOUT_MS });
  await loader.load(
    parseDirectory({
      subjects: [{ type: "user", id: "alice" }],
      resources: Array.from({ length: ENTITIES }, (_, i) => ({ type: "record", id: id(i), properties: { status: "active", n: i, note } })),
    }),
  );
});
afterAll(async () => {
  await db?.close();
  await v?.stop();
  await mongo?.db(v.t.database).dropDatabase();
  await mongo?.close();
});

describe(`a directory of ${ENTITIES.toLocaleString("en")} entities`, () => {
  it("streams every entity once, in id order, in batches of at most 256, holding one batch at a time", async () => {
    const before = heapAfterGc();
    let peak = 0;
    let count = 0;
    let last = "";
    let largest = 0;
    let batches = 0;
    for await (const batch of directory.scan("resource", "record", undefined, new Date(), 256)) {
      largest = Math.max(largest, batch.length);
      for (const entry of batch) {
        if (entry.id <= last) throw new Error(`out of order: ${entry.id} after ${last}`);
        last = entry.id;
        count += 1;
      }
      if (++batches % 50 === 0) peak = Math.max(peak, heapAfterGc() - before);
    }
    expect(count).toBe(ENTITIES);
    expect(last).toBe(id(ENTITIES - 1));
    expect(largest).toBeLessThanOrEqual(256);
    // The whole directory as objects would be well over 40 MB; one batch is a fraction of one.
    expect(peak).toBeLessThan(16 * 1024 * 1024);
  });

  it("resumes after any id with exactly what follows it", async () => {
    const ids: string[] = [];
    for await (const batch of directory.scan("resource", "record", id(99_899), new Date(), 64)) ids.push(...batch.map((e) => e.id));
    expect(ids).toEqual(Array.from({ length: 100 }, (_, i) => id(99_900 + i)));
  });
});

describe("Resource Search pages over it", () => {
  const request = { subject: { type: "user", id: "alice" }, action: { name: "read" }, resource: { type: "record" } };
  const page = async (pageBody: object) => {
    const answer = await v.client.post("/access/v1/search/resource", { ...request, page: pageBody });
    expect(answer.status).toBe(200);
    return { ids: (answer.json.results ?? []).map((r) => r.id as string), next: answer.json.page?.next_token ?? "", count: answer.json.page?.count };
  };

  it("gives pages of the default size that follow each other exactly, and the same page for the same token", async () => {
    const before = heapAfterGc();
    const first = await page({});
    expect(first.ids).toEqual(Array.from({ length: 100 }, (_, i) => id(i)));
    expect(first.count).toBe(100);
    expect(first.next).not.toBe("");
    const second = await page({ token: first.next });
    expect(second.ids).toEqual(Array.from({ length: 100 }, (_, i) => id(100 + i)));
    const again = await page({ token: first.next });
    expect(again).toEqual(second);
    const third = await page({ token: second.next });
    expect(third.ids[0]).toBe(id(200));
    // Serving pages does not load the directory into the server (it runs in this process).
    expect(heapAfterGc() - before).toBeLessThan(16 * 1024 * 1024);
  });

  it("pages of 1,000 do not shift when entities are added before and after the cursor", async () => {
    const first = await page({ limit: 1000 });
    expect(first.ids).toHaveLength(1000);
    expect(first.ids.at(-1)).toBe(id(999));
    await directory.load(
      parseDirectory({
        resources: [
          { type: "record", id: "rec-000000a", properties: { status: "active" } },
          { type: "record", id: "rec-001000a", properties: { status: "active" } },
        ],
      }),
    );
    const second = await page({ token: first.next });
    // The one added before the cursor is not repeated into this page; the one after it appears in order.
    expect(second.ids.slice(0, 3)).toEqual([id(1000), "rec-001000a", id(1001)]);
    expect(second.ids).toHaveLength(1000);
    expect(new Set([...first.ids, ...second.ids]).size).toBe(2000);
  });

  it("evaluates at most max_candidates (1,000) entities per request: a search nothing matches still moves on", async () => {
    const nobody = { ...request, subject: { type: "user", id: "nobody" } };
    const evaluated = async (requestId: string) => {
      await v.t.verdict.audit?.flush();
      // Each evaluation is a dry-run decision in the audit trail.
      const records = await mongo.db(v.t.database).collection("decisions").find({ request_id: requestId }).toArray();
      return records.map((r) => r["resource"]?.id as string).sort();
    };
    const inOrder: string[] = [];
    for await (const batch of directory.scan("resource", "record", undefined, new Date(), 256)) {
      inOrder.push(...batch.map((e) => e.id));
      if (inOrder.length >= 2000) break;
    }
    const first = await v.client.post("/access/v1/search/resource", nobody, { "x-request-id": "scale-first" });
    expect(first.json.results).toEqual([]);
    expect(first.json.page?.next_token).not.toBe("");
    expect(await evaluated("scale-first")).toEqual(inOrder.slice(0, 1000));
    const second = await v.client.post(
      "/access/v1/search/resource",
      { ...nobody, page: { token: first.json.page?.next_token } },
      { "x-request-id": "scale-second" },
    );
    expect(second.json.results).toEqual([]);
    // The next request goes on from where this one stopped.
    expect(await evaluated("scale-second")).toEqual(inOrder.slice(1000, 2000));
  });
});
