// Property tests (fast-check) against a real Verdict over gRPC, at the deadlines a
// user gets: random and adversarial tokens, ids, contexts and batches. Every call
// gets a well-formed answer (a decision, INVALID_ARGUMENT, or RESOURCE_EXHAUSTED for
// a message over gRPC's size limit), an unverifiable token is never allowed, an
// unknown action is never allowed, nothing reaches the audit trail's rejects, and
// the server keeps serving after each run.
//
// Seeded and bounded: VERDICT_PROPERTY_SEED=N replays a run (the seed is printed on
// failure), VERDICT_PROPERTY_RUNS=N changes how many cases each property tries.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import * as grpc from "@grpc/grpc-js";
import fc from "fast-check";
import { generateKeyPair, SignJWT, type CryptoKey } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { TOKEN_REASONS, type CheckResponseMessage, type JsonObject, type JsonValue } from "@verdict/sdk/wire";
import { Struct } from "../../sdk/gen/google/protobuf/struct.js";
import { CheckBatchRequest, CheckRequest } from "../../sdk/gen/verdict/v1/verdict.js";
import { defaultPolicyDir } from "../../src/paths.js";
import { protobufField, rawUnary, type CallResult } from "../support/grpc.js";
import { grpcHealth } from "../support/health.js";
import { TEST_AUDIENCE } from "../support/issuer.js";
import { startTestVerdict, type TestVerdict } from "../support/verdict.js";

const SEED = Number(process.env["VERDICT_PROPERTY_SEED"] ?? Math.floor(Math.random() * 2 ** 31));
const RUNS = Number(process.env["VERDICT_PROPERTY_RUNS"] ?? 40);
/** grpc.max_receive_message_length of the server (src/server/grpc/server.ts). */
const MAX_MESSAGE_BYTES = 256 * 1024;
const MAX_BATCH_ITEMS = 100;
/** Nesting the SDK lets through (MAX_STRUCT_DEPTH): a request within it always decodes. */
const DECODABLE_DEPTH = 32;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const CODE = /^[a-z][a-z0-9_]*$/;

/** The actions the shipped policies know: any other is never allowed. */
const KNOWN_ACTIONS = new Set(
  Object.keys((JSON.parse(readFileSync(join(defaultPolicyDir, "data.json"), "utf8")) as { settings: { actions: object } }).settings.actions),
);
const ALL_SCOPES = "invoices:read invoices:write payments:write customers:read customers:export accounts:write";

let t: TestVerdict;
let prototypeNames: string[];

beforeAll(async () => {
  t = await startTestVerdict();
  prototypeNames = Object.getOwnPropertyNames(Object.prototype).sort();
});
afterAll(async () => {
  await t?.stop();
});

/** Runs a property with the run's seed, saying how to replay it when it fails. */
async function holds<T>(property: fc.IAsyncProperty<T>, numRuns = RUNS, examples: T[] = []): Promise<void> {
  try {
    await fc.assert(property, { seed: SEED, numRuns, endOnFailure: true, examples });
  } catch (error) {
    // counterexamples can be megabytes (huge contexts): the start of the report names the seed, the path and the failure
    const report = (error as Error).message;
    const cause = (error as Error).cause instanceof Error ? ((error as Error).cause as Error).message : "";
    // eslint-disable-next-line preserve-caught-error -- the cause would print the whole counterexample again
    throw new Error(
      `property failed with seed ${SEED} (replay: VERDICT_PROPERTY_SEED=${SEED})\n${report.slice(0, 3_000)}\n...\ncaused by: ${cause.slice(0, 2_000)}`,
    );
  }
}

/** A decision as the contract promises it: a known effect, an id, stable reason codes, and a reason for every refusal. */
function expectWellFormedDecision(response: CheckResponseMessage): void {
  expect(["ALLOW", "DENY", "STEP_UP"]).toContain(response.decision);
  expect(response.decision_id).toMatch(UUID);
  expect(response.policy_revision).toMatch(/^sha256:/);
  for (const reason of response.reasons) {
    expect(reason.code).toMatch(CODE);
    expect(typeof reason.message).toBe("string");
  }
  if (response.decision !== "ALLOW") expect(response.reasons.length).toBeGreaterThan(0);
}

/** What a property's calls came to: a property whose every case is refused (or decided) proves less than it says. */
type Tally = Record<"decided" | "invalid" | "too_large", number>;
const tally = (): Tally => ({ decided: 0, invalid: 0, too_large: 0 });

/** A decision, or a refusal of the request as invalid (or, past gRPC's message limit, too large): nothing else. */
function expectWellFormedAnswer(result: CallResult, requestBytes: number, seen: Tally): void {
  if (requestBytes > MAX_MESSAGE_BYTES) {
    expect(result).toMatchObject({ ok: false, code: grpc.status.RESOURCE_EXHAUSTED });
    seen.too_large += 1;
    return;
  }
  if (!result.ok) {
    expect(grpc.status[result.code]).toBe("INVALID_ARGUMENT");
    expect(result.details.length).toBeGreaterThan(0);
    seen.invalid += 1;
    return;
  }
  expectWellFormedDecision(result.response);
  seen.decided += 1;
}

/** How deep objects and arrays nest in a value (a scalar is 0). */
function depthOf(value: unknown): number {
  if (value === null || typeof value !== "object") return 0;
  return 1 + Math.max(0, ...Object.values(value).map(depthOf));
}

/** After each property: health says SERVING, a known-good Check is allowed, no prototype gained a key, the audit trail kept every record. */
async function expectStillServing(): Promise<void> {
  expect(await grpcHealth(t.address)).toBe("SERVING");
  const good = await t.client.check({ token: await t.issuer.token({ scope: "invoices:read" }), action: "invoices:read" });
  expect(good.decision).toBe("ALLOW");
  expect(Object.getOwnPropertyNames(Object.prototype).sort()).toEqual(prototypeNames);
  expect(({} as Record<string, unknown>)["polluted"]).toBeUndefined();
  expect(t.verdict.audit?.stats()).toMatchObject({ refused: 0, rejected: 0, lost: 0 });
}

// ---- arbitraries ---------------------------------------------------------------

const OPERATOR_KEYS = ["$where", "$gt", "$ne", "$in", "$regex", "$expr", "$function", "$set", "$", "a.b", "a.$.b", ".", "..", "$$ROOT"];
const PROTOTYPE_KEYS = ["__proto__", "constructor", "prototype", "toString", "valueOf", "hasOwnProperty", "__defineGetter__"];
const ODD_STRINGS = [
  "",
  " ",
  "\u0000",
  "\u0007bell",
  "line\nbreak",
  "\r\n",
  "\u007f",
  "\u202eevil",
  "\ud800",
  "\udfff",
  "\ufeff",
  "😀",
  "𝔘𝔫𝔦",
  "ｆｕｌｌ",
  "🏳️‍🌈",
];

/** Any code point, lone surrogates and control characters included. */
const anyText = (maxLength: number) => fc.string({ unit: "binary", maxLength });

const key = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom(...OPERATOR_KEYS, ...PROTOTYPE_KEYS, ...ODD_STRINGS) },
  { weight: 2, arbitrary: anyText(12) },
  { weight: 1, arbitrary: fc.integer({ min: 250, max: 300 }).map((n) => "k".repeat(n)) },
);

const scalar: fc.Arbitrary<JsonValue> = fc.oneof(
  fc.constant(null),
  fc.boolean(),
  fc.double(), // NaN, ±Infinity and -0 included: the wire carries them
  fc.integer(),
  fc.constantFrom(...ODD_STRINGS, ...OPERATOR_KEYS, '{"$gt": ""}', "'; db.dropDatabase(); '", "<script>alert(1)</script>"),
  anyText(40),
  fc.integer({ min: 8_000, max: 9_000 }).map((n) => "x".repeat(n)), // around the 8,192-character bound
);

/** Objects and arrays of adversarial keys and values, a few levels deep. */
const jsonTree: fc.Arbitrary<JsonObject> = fc.letrec<{ value: JsonValue; object: JsonObject }>((tie) => ({
  value: fc.oneof({ depthSize: "small", withCrossShrink: true }, scalar, tie("object"), fc.array(tie("value"), { maxLength: 4 })),
  object: fc.dictionary(key, tie("value"), { maxKeys: 6, noNullPrototype: true }),
})).object;

/** `depth` objects (or arrays) nested in one another, around the 8-level bound and past the decoder's recursion limit. */
const deep = fc.tuple(fc.integer({ min: 1, max: 70 }), fc.boolean()).map(([depth, arrays]): JsonObject => {
  let node: JsonValue = "leaf";
  for (let i = 0; i < depth; i++) node = arrays ? [node] : { a: node };
  return { deep: node };
});

/** Many values, or large ones: around the node, string and byte bounds, and past gRPC's message limit. */
const huge = fc.oneof(
  fc.integer({ min: 1_900, max: 2_100 }).map((n): JsonObject => Object.fromEntries(Array.from({ length: n }, (_, i) => [`k${i}`, i]))),
  fc.integer({ min: 3, max: 40 }).map((n): JsonObject => Object.fromEntries(Array.from({ length: n }, (_, i) => [`s${i}`, "y".repeat(8_000)]))),
  fc
    .integer({ min: 30_000, max: 34_000 })
    .map((n): JsonObject => ({ many: Array.from({ length: Math.floor(n / 16) }, () => "0123456789abcdef".slice(0, 14)) })),
);

const context = fc.oneof({ weight: 4, arbitrary: jsonTree }, { weight: 1, arbitrary: deep }, { weight: 1, arbitrary: huge });

const action = fc.oneof(fc.constantFrom(...KNOWN_ACTIONS), fc.constantFrom(...OPERATOR_KEYS, ...PROTOTYPE_KEYS, ...ODD_STRINGS), anyText(140));
const id = fc.oneof(fc.constantFrom("inv-1", ...OPERATOR_KEYS, ...PROTOTYPE_KEYS, ...ODD_STRINGS), anyText(300));

function b64(value: unknown): string {
  return Buffer.from(typeof value === "string" ? value : JSON.stringify(value)).toString("base64url");
}

/** Flips one byte of one segment of a signed token: the segment decodes to other bytes, so the signature cannot hold. */
function tamper(token: string, segment: number, at: number, bits: number): string {
  const parts = token.split(".");
  const bytes = Buffer.from(parts[segment] ?? "", "base64url");
  if (bytes.length === 0) return token + "x";
  const index = at % bytes.length;
  bytes[index] = (bytes[index] ?? 0) ^ (bits % 255 || 1);
  parts[segment] = bytes.toString("base64url");
  return parts.join(".");
}

/** How to make a token Verdict must refuse; tokens are signed inside the property (keys are async). */
type BadToken =
  | { kind: "text"; value: string }
  | { kind: "shaped"; header: JsonValue; payload: JsonValue; signature: string }
  | { kind: "tampered"; segment: number; at: number; bits: number }
  | { kind: "foreign-key" }
  | { kind: "alg-none" }
  | { kind: "hmac-confusion" }
  | { kind: "claims"; claims: Record<string, unknown> };

const now = () => Math.floor(Date.now() / 1000);

const badToken: fc.Arbitrary<BadToken> = fc.oneof(
  anyText(200).map((value): BadToken => ({ kind: "text", value })),
  fc.integer({ min: 8_000, max: 20_000 }).map((n): BadToken => ({ kind: "text", value: "e".repeat(n) })),
  fc
    .record({ header: fc.oneof(jsonTree, scalar), payload: fc.oneof(jsonTree, scalar), signature: fc.base64String({ maxLength: 120 }) })
    .map((parts): BadToken => ({ kind: "shaped", ...parts })),
  fc
    .record({ segment: fc.integer({ min: 0, max: 2 }), at: fc.nat(), bits: fc.integer({ min: 1, max: 255 }) })
    .map((r): BadToken => ({ kind: "tampered", ...r })),
  fc.constant<BadToken>({ kind: "foreign-key" }),
  fc.constant<BadToken>({ kind: "alg-none" }),
  fc.constant<BadToken>({ kind: "hmac-confusion" }),
  fc
    .constantFrom<Record<string, unknown>>(
      { exp: now() - 3_600 },
      { exp: 1e300 },
      { nbf: now() + 3_600 },
      { iat: now() + 3_600 },
      { aud: "https://other.example" },
      { iss: "https://evil.example" },
      { sub: undefined },
      { sub: { $ne: null } },
      { scope: ["invoices:read"] },
      { auth_time: now() + 86_400 },
      { client_id: 7 },
    )
    .map((claims): BadToken => ({ kind: "claims", claims })),
);

let foreignKey: CryptoKey | undefined;

/** What a forger would claim: the trusted issuer, the right audience, every scope. */
const forgedClaims = () => ({
  iss: t.issuer.issuer,
  aud: TEST_AUDIENCE,
  sub: "mallory",
  client_id: "agent-7",
  iat: now(),
  exp: now() + 300,
  scope: ALL_SCOPES,
});

async function tokenFor(bad: BadToken): Promise<string> {
  switch (bad.kind) {
    case "text":
      return bad.value;
    case "shaped":
      return `${b64({ typ: "at+jwt", kid: t.issuer.kid, ...(typeof bad.header === "object" ? bad.header : { alg: bad.header }) })}.${b64(bad.payload)}.${bad.signature}`;
    case "tampered":
      return tamper(await t.issuer.token({ scope: ALL_SCOPES }), bad.segment, bad.at, bad.bits);
    case "foreign-key":
      foreignKey ??= (await generateKeyPair("ES256")).privateKey;
      return new SignJWT(forgedClaims()).setProtectedHeader({ alg: "ES256", typ: "at+jwt", kid: t.issuer.kid }).sign(foreignKey);
    case "alg-none":
      return `${b64({ alg: "none", typ: "at+jwt" })}.${b64(forgedClaims())}.`;
    case "hmac-confusion":
      // the issuer's public key used as an HMAC secret
      return new SignJWT(forgedClaims())
        .setProtectedHeader({ alg: "HS256", typ: "at+jwt", kid: t.issuer.kid })
        .sign(new TextEncoder().encode(JSON.stringify(t.issuer.publicJwk)));
    case "claims":
      return t.issuer.token({ scope: ALL_SCOPES, ...bad.claims });
  }
}

// ---- properties ----------------------------------------------------------------

describe("properties of Check against a running Verdict", () => {
  it("never allows a token it cannot verify, whatever the token, and answers each with an invalid_token reason", async () => {
    await holds(
      fc.asyncProperty(badToken, fc.constantFrom(...KNOWN_ACTIONS), async (bad, knownAction) => {
        const request = {
          token: await tokenFor(bad),
          action: knownAction,
          resource: { type: "invoice", id: "inv-1", attributes: {} },
          context: { amount: 1 },
          request_id: "",
          dry_run: false,
          explain: false,
          approval_id: "",
        };
        const result = await t.client.callRaw(request);
        // a shaped token's header or payload can take the request past gRPC's message limit: refused before Verdict, never allowed
        if (CheckRequest.encode(request).finish().length > MAX_MESSAGE_BYTES) {
          expect(result).toMatchObject({ ok: false, code: grpc.status.RESOURCE_EXHAUSTED });
          return;
        }
        expect(result.ok, JSON.stringify(result).slice(0, 500)).toBe(true);
        if (!result.ok) return;
        expectWellFormedDecision(result.response);
        expect(result.response.decision).toBe("DENY");
        expect(Object.keys(TOKEN_REASONS)).toContain(result.response.reasons[0]?.code);
      }),
    );
    await expectStillServing();
  });

  it("answers any context (adversarial keys, deep, huge, unicode, control characters) with a decision or INVALID_ARGUMENT", async () => {
    const seen = tally();
    await holds(
      fc.asyncProperty(
        fc.constantFrom(...KNOWN_ACTIONS),
        context,
        context,
        fc.option(fc.integer({ min: 1, max: 600 })),
        fc.constantFrom("web", "ai-agent"),
        async (knownAction, ctx, attributes, amount, clientType) => {
          // an amount makes payments:transfer and the bulk actions reach state (reserve, rate) with the rest of the context beside it
          const token = await t.issuer.token({ scope: ALL_SCOPES, client_type: clientType, sub: `props-${clientType}` });
          const request = {
            token,
            action: knownAction,
            resource: { type: "invoice", id: "inv-1", attributes },
            context: amount === null ? ctx : { ...ctx, amount, items: amount },
            request_id: "",
            dry_run: false,
            explain: false,
            approval_id: "",
          };
          expectWellFormedAnswer(await t.client.callRaw(request), CheckRequest.encode(request).finish().length, seen);
        },
      ),
      RUNS,
      // Both answers are reached whatever the seed (a random 40 can all be refused): a plain context decided, one nested past the bound refused.
      [
        ["invoices:read", {}, {}, null, "web"],
        ["invoices:read", { deep: Array.from({ length: 80 }).reduce<JsonValue>((node) => ({ a: node }), "leaf") }, {}, null, "web"],
      ],
    );
    expect(seen.decided).toBeGreaterThan(0);
    expect(seen.invalid).toBeGreaterThan(0);
    await expectStillServing();
  });

  it("answers any action, resource and request id with a decision or INVALID_ARGUMENT, and never allows an action the policy does not know", async () => {
    const token = await t.issuer.token({ scope: ALL_SCOPES, exp: now() + 900 });
    const seen = tally();
    await holds(
      fc.asyncProperty(action, id, id, fc.oneof(fc.constant(""), anyText(140)), async (act, type, resourceId, requestId) => {
        const request = {
          token,
          action: act,
          resource: { type, id: resourceId, attributes: {} },
          context: { amount: 1 },
          request_id: requestId,
          dry_run: false,
          explain: false,
          approval_id: "",
        };
        const result = await t.client.callRaw(request);
        expectWellFormedAnswer(result, CheckRequest.encode(request).finish().length, seen);
        if (result.ok && !KNOWN_ACTIONS.has(act)) expect(result.response.decision).not.toBe("ALLOW");
      }),
      RUNS,
      // one request that is decided and one that is refused, whatever the seed draws besides
      [
        ["invoices:read", "invoice", "inv-1", ""],
        ["", "invoice", "inv-1", ""],
      ],
    );
    expect(seen.decided).toBeGreaterThan(0);
    expect(seen.invalid).toBeGreaterThan(0);
    await expectStillServing();
  });

  it("answers Release of any decision id with INVALID_ARGUMENT, or unknown_decision for an id it never gave", async () => {
    await holds(
      fc.asyncProperty(
        fc.oneof(
          anyText(80),
          fc.uuid({ version: 4 }),
          fc.uuid({ version: 4 }).map((u) => u.toUpperCase()),
        ),
        async (decisionId) => {
          const result = await t.client.release(decisionId);
          if (UUID.test(decisionId)) expect(result).toMatchObject({ ok: true, response: { status: "unknown_decision", released: [] } });
          else expect(result).toMatchObject({ ok: false, code: grpc.status.INVALID_ARGUMENT });
        },
      ),
    );
    await expectStillServing();
  });

  it("answers any batch with one result per item, never allowing an item of an unverifiable token", async () => {
    const item = fc.record({ action: fc.oneof(fc.constantFrom(...KNOWN_ACTIONS), action), context: fc.oneof({ weight: 3, arbitrary: jsonTree }, deep) });
    await holds(
      fc.asyncProperty(
        fc.oneof({ weight: 4, arbitrary: fc.array(item, { maxLength: 12 }) }, { weight: 1, arbitrary: fc.array(item, { minLength: 98, maxLength: 103 }) }),
        fc.option(badToken, { freq: 2 }),
        async (items, bad) => {
          const token = bad === null ? await t.issuer.token({ scope: ALL_SCOPES }) : await tokenFor(bad);
          const request = {
            token,
            items: items.map((i) => ({ action: i.action, resource: { type: "invoice", id: "inv-1", attributes: {} }, context: i.context, approval_id: "" })),
            request_id: "",
            dry_run: false,
          };
          const bytes = CheckBatchRequest.encode(request).finish().length;
          const result = await t.client.checkBatch({
            token,
            items: request.items,
          });
          if (bytes > MAX_MESSAGE_BYTES) return void expect(result).toMatchObject({ ok: false, code: grpc.status.RESOURCE_EXHAUSTED });
          if (items.length === 0 || items.length > MAX_BATCH_ITEMS) return void expect(result).toMatchObject({ ok: false, code: grpc.status.INVALID_ARGUMENT });
          // bytes that do not decode (an item nested past the decoder's limit) refuse the whole call: there are no items to judge one by one
          if (!result.ok && /could not be decoded/.test(result.details)) {
            expect(result.code).toBe(grpc.status.INVALID_ARGUMENT);
            return void expect(Math.max(...items.map((i) => depthOf(i.context)))).toBeGreaterThan(DECODABLE_DEPTH);
          }
          expect(result.ok, JSON.stringify(result).slice(0, 500)).toBe(true);
          if (!result.ok) return;
          expect(result.response.results).toHaveLength(items.length);
          for (const one of result.response.results) {
            if (one.response) {
              expectWellFormedDecision(one.response);
              if (bad !== null) expect(one.response.decision).toBe("DENY");
            } else expect(one.error).toMatchObject({ code: "invalid_argument", message: expect.any(String) });
          }
        },
      ),
      Math.max(10, Math.floor(RUNS / 2)),
    );
    await expectStillServing();
  });

  it("refuses a __proto__ key sent on the wire, INVALID_ARGUMENT, touching no prototype", async () => {
    // no well-behaved encoder sends an own "__proto__" key (assigning one sets a prototype); bytes built by hand do.
    // Until 2026-12-07 the key was dropped and the call decided as if it had not been sent.
    const fields = Object.create(null) as Record<string, unknown>;
    fields["__proto__"] = { polluted: true, client_type: "web" };
    fields["amount"] = 5;
    const base = CheckRequest.encode({
      token: await t.issuer.token({ scope: "invoices:read" }),
      action: "invoices:read",
      resource: { type: "invoice", id: "inv-1", attributes: {} },
      request_id: "",
      dry_run: false,
      explain: true,
      approval_id: "",
    }).finish();
    const context = protobufField(4, Buffer.from(Struct.encode({ fields }).finish())); // CheckRequest.context is field 4
    const result = await rawUnary(t.address, "Check", Buffer.concat([Buffer.from(base), context]), t.apiKey);
    expect(result).toMatchObject({ ok: false, code: grpc.status.INVALID_ARGUMENT, details: expect.stringMatching(/^context has the key __proto__/) });
    expect(({} as Record<string, unknown>)["polluted"]).toBeUndefined();
    await expectStillServing();
  });
});
