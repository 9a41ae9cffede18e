// A start that fails elsewhere (a policy bundle that does not load, a port in use) closes
// the suspensions while they still wait for their first load from a database that does
// not answer: the wait ends there (not after its full time, which kept the process alive
// for it), and a read that fails because of the close is not reported as the database's.
import { describe, expect, it } from "vitest";
import { Database } from "../../src/database/index.js";
import { Suspensions, suspensionsSchema } from "../../src/suspensions/index.js";
import { captureLog } from "../support/log.js";
import { freePort } from "../support/mongo-servers.js";

describe("suspensions closed before their first load", () => {
  it("end the start's wait at once, not loaded, and say nothing of the closed connection", async () => {
    const logged = captureLog();
    // Nothing listens there: the first load cannot happen.
    const database = Database.open({ uri: `mongodb://127.0.0.1:${await freePort()}/?directConnection=true`, database: "verdict_unreached", log: logged.log });
    database.connectInBackground();
    const suspensions = new Suspensions({ database, settings: suspensionsSchema().parse({}), log: logged.log });
    const waitMs = 120_000; // longer than this test may take
    const starting = suspensions.start(waitMs);
    await new Promise((resolve) => setTimeout(resolve, 200));
    const closedAt = Date.now();
    await suspensions.close();
    await database.close();
    expect(await starting).toBe(false);
    expect(Date.now() - closedAt).toBeLessThan(waitMs);
    expect(suspensions.loaded).toBe(false);
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(logged.lines().filter((line) => String(line["msg"]).startsWith("suspensions not loaded yet"))).toEqual([]);
  });
});
