// A Verdict that stops while a Shared Signals delivery applies its SET: the receiver
// stops taking deliveries and lets the one under way apply and record its SET before
// the database closes (the admin listener, which serves the route, closes last), so
// that no claim is left held and no SET half-applied by the stop.
import { randomUUID } from "node:crypto";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { calculateJwkThumbprint, exportJWK, generateKeyPair, SignJWT } from "jose";
import { afterEach, expect, it, vi } from "vitest";
import { Database } from "../../src/database/index.js";
import { RISC } from "../../src/ssf/index.js";
import { Suspensions } from "../../src/suspensions/index.js";
import { captureLog } from "../support/log.js";
import { connectTestClient } from "../support/mongo.js";
import { startTestVerdict, type TestVerdict } from "../support/verdict.js";

const TRANSMITTER = "https://idp.test.example";
const RECEIVER = "https://verdict.test.example/ssf";

let t: TestVerdict | undefined;
afterEach(async () => {
  vi.restoreAllMocks();
  await t?.stop();
});

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
/** A class's own method as it is before the test spies on it, to be called with the instance as `this`. */
const original = <F extends (...args: never[]) => unknown>(prototype: object, name: string) =>
  Object.getOwnPropertyDescriptor(prototype, name)?.value as (this: unknown, ...args: Parameters<F>) => ReturnType<F>;

it("lets a delivery under way apply and record its SET before the database closes, and answers new ones 503", async () => {
  const { privateKey, publicKey } = await generateKeyPair("ES256", { extractable: true });
  const jwk = await exportJWK(publicKey);
  const kid = await calculateJwkThumbprint(jwk);
  const jwksFile = join(mkdtempSync(join(tmpdir(), "verdict-ssf-shutdown-")), "jwks.json");
  writeFileSync(jwksFile, JSON.stringify({ keys: [{ ...jwk, kid, alg: "ES256", use: "sig" }] }));
  const logged = captureLog();
  t = await startTestVerdict({
    log: logged.log,
    config: { ssf: { transmitters: [{ name: "idp", issuer: TRANSMITTER, jwks_file: jwksFile, audience: RECEIVER }] } },
  });
  const verdict = t;
  const set = (sub: string, jti = randomUUID()) =>
    new SignJWT({
      iss: TRANSMITTER,
      aud: RECEIVER,
      iat: Math.floor(Date.now() / 1_000),
      jti,
      events: { [`${RISC}account-disabled`]: { subject: { format: "iss_sub", iss: verdict.issuer.issuer, sub } } },
    })
      .setProtectedHeader({ alg: "ES256", kid, typ: "secevent+jwt" })
      .sign(privateKey);
  const push = async (body: string) => {
    const response = await fetch(`${verdict.verdict.adminUrl}/ssf/events`, { method: "POST", headers: { "content-type": "application/secevent+jwt" }, body });
    const text = await response.text();
    return { status: response.status, body: text ? (JSON.parse(text) as unknown) : undefined };
  };

  // The delivery's write waits for the test (a slow database); the database's close is seen.
  let open!: () => void;
  const opened = new Promise<void>((resolve) => (open = resolve));
  let writing = 0;
  const add = original<Suspensions["add"]>(Suspensions.prototype, "add");
  vi.spyOn(Suspensions.prototype, "add").mockImplementation(async function (this: Suspensions, ...args) {
    writing += 1;
    await opened;
    return add.apply(this, args);
  });
  let databaseClosed!: () => void;
  const databaseClosing = new Promise<void>((resolve) => (databaseClosed = resolve));
  const close = original<Database["close"]>(Database.prototype, "close");
  vi.spyOn(Database.prototype, "close").mockImplementation(function (this: Database) {
    databaseClosed();
    return close.call(this);
  });

  const jti = randomUUID();
  const underWay = push(await set(`alice-${randomUUID()}`, jti));
  await vi.waitFor(() => expect(writing).toBe(1));
  const stopped = verdict.stop();
  t = undefined;
  // The database is not closed while the delivery applies (until 2026-12-08 it was, at once, and the delivery failed).
  await Promise.race([databaseClosing, sleep(2_000)]);
  const meanwhile = await push(await set(`bob-${randomUUID()}`)).catch((error: unknown) => ({ failed: String(error) }));
  open();
  expect((await underWay).status).toBe(202);
  await stopped;
  expect(meanwhile).toEqual({ status: 503, body: { err: "temporarily_unavailable", description: "Verdict is stopping; deliver again" } });
  expect(writing).toBe(1);

  const client = await connectTestClient();
  try {
    const kept = await client
      .db(verdict.database)
      .collection<{ _id: string }>("ssf_received")
      .findOne({ _id: `idp\n${jti}` });
    expect(kept).toMatchObject({ applied: true });
  } finally {
    await client.close();
  }
});
