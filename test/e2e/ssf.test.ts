// The Shared Signals receiver on the admin listener: SETs signed by a test
// transmitter's key, pushed over HTTP (RFC 8935), become suspensions on a running
// Verdict; forged, replayed, expired, mis-addressed and malformed ones are refused
// with RFC 8935 errors and change nothing.
import { randomUUID } from "node:crypto";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { calculateJwkThumbprint, exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWTPayload } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { hashApiKey } from "../../src/server/index.js";
import { CAEP, RISC } from "../../src/ssf/index.js";
import { ok, TestAdminClient } from "../support/admin.js";
import { AuditTestClient } from "../support/audit-client.js";
import { captureLog, type CapturedLog } from "../support/log.js";
import { TestClient } from "../support/grpc.js";
import { createTestIssuer, TEST_AUDIENCE, TEST_SCOPES, type TestIssuer } from "../support/issuer.js";
import { startTestVerdict, type TestVerdict } from "../support/verdict.js";

const TRANSMITTER = "https://idp.test.example";
const RECEIVER = "https://verdict.test.example/ssf";

interface Signer {
  key: CryptoKey;
  kid: string;
}

let t: TestVerdict;
let issuer: TestIssuer;
let transmitter: Signer;
let forger: Signer;
let admin: TestAdminClient;
let audit: AuditTestClient;
let logged: CapturedLog;

async function signer(): Promise<Signer & { jwk: object }> {
  const { privateKey, publicKey } = await generateKeyPair("ES256", { extractable: true });
  const jwk = await exportJWK(publicKey);
  const kid = await calculateJwkThumbprint(jwk);
  return { key: privateKey, kid, jwk: { ...jwk, kid, alg: "ES256", use: "sig" } };
}

beforeAll(async () => {
  issuer = await createTestIssuer();
  const real = await signer();
  transmitter = real;
  // The forger uses the real key id, with a key of its own.
  forger = { key: (await signer()).key, kid: real.kid };
  const jwksFile = join(mkdtempSync(join(tmpdir(), "verdict-ssf-")), "jwks.json");
  writeFileSync(jwksFile, JSON.stringify({ keys: [real.jwk] }));
  logged = captureLog();
  t = await startTestVerdict({
    issuer,
    log: logged.log,
    config: {
      apis: [{ name: "invoices-api", audience: TEST_AUDIENCE, key_sha256: hashApiKey("ssf-key"), scopes: [...TEST_SCOPES], grants: ["suspensions"] }],
      ssf: { transmitters: [{ name: "idp", issuer: TRANSMITTER, jwks_file: jwksFile, audience: RECEIVER, token_issuer: issuer.issuer }] },
    },
  });
  t.client.close();
  t.client = new TestClient(t.address, "ssf-key");
  admin = new TestAdminClient(t.address, "ssf-key");
  audit = new AuditTestClient(t.address, "ssf-key");
});
afterAll(async () => {
  admin?.close();
  audit?.close();
  await t?.stop();
});

const now = () => Math.floor(Date.now() / 1000);

/** A SET from the test transmitter, with `claims` over the defaults (undefined removes one). */
async function set(events: Record<string, unknown>, claims: JWTPayload = {}, options: { by?: Signer; typ?: string } = {}): Promise<string> {
  const by = options.by ?? transmitter;
  const payload: JWTPayload = { iss: TRANSMITTER, aud: RECEIVER, iat: now(), jti: randomUUID(), events, ...claims };
  for (const [key, value] of Object.entries(payload)) if (value === undefined) delete payload[key];
  return new SignJWT(payload).setProtectedHeader({ alg: "ES256", kid: by.kid, typ: options.typ ?? "secevent+jwt" }).sign(by.key);
}

async function push(body: string, contentType = "application/secevent+jwt"): Promise<{ status: number; body: unknown }> {
  const response = await fetch(`${t.verdict.adminUrl}/ssf/events`, { method: "POST", headers: { "content-type": contentType }, body });
  const text = await response.text();
  return { status: response.status, body: text ? JSON.parse(text) : undefined };
}

const userSubject = (sub: string) => ({ format: "iss_sub", iss: issuer.issuer, sub });
const read = async (token: string) => (await t.client.check({ token, action: "invoices:read" })).reasons.map((r) => r.code);

describe("SETs that become suspensions", () => {
  it("RISC account-disabled suspends the user until account-enabled resumes them, each an audit event", async () => {
    const sub = `user-${randomUUID()}`;
    const token = await issuer.token({ sub, client_type: "ai-agent" });
    expect(await push(await set({ [`${RISC}account-disabled`]: { subject: userSubject(sub), reason: "hijacking" } }))).toEqual({
      status: 202,
      body: undefined,
    });
    expect(await read(token)).toEqual(["principal_suspended"]);
    const [held] = ok(await admin.list({ kind: "user" })).suspensions.filter((s) => s.target?.subject === sub);
    expect(held).toMatchObject({ source: "ssf:idp:account-disabled", by_via: "ssf", until: "" });

    expect((await push(await set({ [`${RISC}account-enabled`]: { subject: userSubject(sub) } }))).status).toBe(202);
    expect(await read(token)).toEqual([]);

    await t.verdict.audit?.flush();
    const events = (await audit.query({ kind: "suspension", subject: sub })).records;
    // The record's issuer is the target's; the transmitter is the actor.
    expect(events.map((e) => [e.event_action, e.actor_via, e.issuer, (e.context as { actor?: { issuer?: string } }).actor?.issuer])).toEqual([
      ["resumed", "ssf", issuer.issuer, TRANSMITTER],
      ["suspended", "ssf", issuer.issuer, TRANSMITTER],
    ]);
  });

  it("CAEP credential-change revokes the tokens issued before it; a token issued after still works", async () => {
    const sub = `user-${randomUUID()}`;
    const before = await issuer.token({ sub, iat: now() - 30 });
    // An opaque subject: the transmitter's token_issuer says whose subject it is. SSF 1.0 puts it at the top (sub_id).
    const delivery = await set(
      { [`${CAEP}credential-change`]: { credential_type: "password", change_type: "update", event_timestamp: now() - 10 } },
      { sub_id: { format: "opaque", id: sub } },
    );
    expect((await push(delivery)).status).toBe(202);
    expect(await read(before)).toEqual(["principal_suspended"]);
    expect(await read(await issuer.token({ sub }))).toEqual([]);
  });

  it("CAEP session-revoked stops the tokens of that session only", async () => {
    const sub = `user-${randomUUID()}`;
    const sid = randomUUID();
    const subject = { format: "complex", user: userSubject(sub), session: { format: "opaque", id: sid } };
    expect((await push(await set({ [`${CAEP}session-revoked`]: { subject, event_timestamp: now() } }))).status).toBe(202);
    expect(await read(await issuer.token({ sub, sid }))).toEqual(["principal_suspended"]);
    expect(await read(await issuer.token({ sub, sid: randomUUID() }))).toEqual([]);
  });

  it("RISC credential-compromise and account-purged act too; an unknown event type is acknowledged and ignored", async () => {
    const compromised = `user-${randomUUID()}`;
    const old = await issuer.token({ sub: compromised, iat: now() - 30 });
    expect((await push(await set({ [`${RISC}credential-compromise`]: { subject: userSubject(compromised), credential_type: "password" } }))).status).toBe(202);
    expect(await read(old)).toEqual(["principal_suspended"]);

    const purged = `user-${randomUUID()}`;
    expect((await push(await set({ [`${RISC}account-purged`]: { subject: userSubject(purged) } }))).status).toBe(202);
    expect(await read(await issuer.token({ sub: purged }))).toEqual(["principal_suspended"]);

    const other = `user-${randomUUID()}`;
    expect((await push(await set({ "https://example.com/event-type/unheard-of": { subject: userSubject(other) } }))).status).toBe(202);
    expect(await read(await issuer.token({ sub: other }))).toEqual([]);
  });
});

describe("SETs that are refused, and change nothing", () => {
  it("forged, replayed, expired, too old, mis-addressed, from an unknown issuer, mistyped or malformed", async () => {
    const sub = `user-${randomUUID()}`;
    const disable = { [`${RISC}account-disabled`]: { subject: userSubject(sub) } };
    const replayed = await set(disable, { aud: "https://elsewhere.example" });
    const cases: [string, { status: number; body: unknown }, string][] = [
      ["forged", await push(await set(disable, {}, { by: forger })), "invalid_key"],
      ["expired", await push(await set(disable, { iat: now() - 120, exp: now() - 61 })), "invalid_request"],
      ["too old", await push(await set(disable, { iat: now() - 2 * 86_400 })), "invalid_request"],
      ["mis-addressed", await push(replayed), "invalid_audience"],
      ["unknown issuer", await push(await set(disable, { iss: "https://rogue.example" })), "invalid_issuer"],
      ["typ is not secevent+jwt", await push(await set(disable, {}, { typ: "JWT" })), "invalid_request"],
      ["no jti", await push(await set(disable, { jti: undefined })), "invalid_request"],
      ["no events", await push(await set({}, {})), "invalid_request"],
      ["not a JWT", await push("hello"), "invalid_request"],
      ["wrong content type", await push(await set(disable), "application/json"), "invalid_request"],
    ];
    for (const [what, answer, err] of cases) {
      expect({ what, ...answer }).toEqual({ what, status: 400, body: { err, description: expect.any(String) } });
    }
    expect(await read(await issuer.token({ sub }))).toEqual([]);
    expect(ok(await admin.list({ kind: "user" })).suspensions.filter((s) => s.target?.subject === sub)).toEqual([]);
    // Each refusal is logged with its code (never the SET itself).
    const refusals = logged.lines().filter((line) => line["msg"] === "SET refused");
    expect(refusals.length).toBeGreaterThanOrEqual(cases.length);
    expect(new Set(refusals.map((line) => line["err"]))).toEqual(new Set(["invalid_key", "invalid_request", "invalid_audience", "invalid_issuer"]));
    expect(JSON.stringify(refusals)).not.toContain(replayed);
  });

  it("accepts each jti once: a replay is refused", async () => {
    const sub = `user-${randomUUID()}`;
    const once = await set({ [`${RISC}account-disabled`]: { subject: userSubject(sub) } });
    expect((await push(once)).status).toBe(202);
    ok(await admin.resume({ target: { kind: "user", subject: sub, issuer: issuer.issuer } }));
    expect(await push(once)).toEqual({ status: 400, body: { err: "invalid_request", description: "this SET (its jti) was already received" } });
    expect(await read(await issuer.token({ sub }))).toEqual([]);
  });
});
