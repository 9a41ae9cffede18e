// What the bench asks, scenario by scenario: the requests (Verdict's and, where a
// peer runs, the same question put to Cerbos), the tokens they carry, and what
// each scenario changes in Verdict's configuration. Every valid request here is
// one the policy allows (limits are raised in the bench bundle, see bundle.ts), so
// an answer other than ALLOW is a refusal that is not the policy's: the probe at
// the start of each scenario checks the first of them.
import type { JsonObject } from "@verdict/sdk/wire";
import type { ConfigFile } from "../src/config/index.js";
import type { TestIssuer } from "../test/support/issuer.js";
import type { CerbosRequest } from "./targets/cerbos.js";

export const SCENARIO_IDS = ["a", "b", "c", "d", "e", "f", "echo"] as const;
export type ScenarioId = (typeof SCENARIO_IDS)[number];

/** A Check or CheckBatch request as ghz sends it (the proto's JSON form). */
export interface CheckJson {
  token: string;
  action: string;
  resource: { type: string; id: string; attributes: JsonObject };
  context: JsonObject;
  request_id: string;
}
export interface BatchJson {
  token: string;
  items: Omit<CheckJson, "token" | "request_id">[];
  request_id: string;
}
export type VerdictRequest = CheckJson | BatchJson;

export interface Scenario {
  id: ScenarioId;
  title: string;
  /** What is asked, for the report. */
  what: string;
  /** Cerbos runs in the same scenario, alternating with Verdict. */
  peer: boolean;
  /** A second ghz floods the server with invalid tokens during the measured runs. */
  flood: boolean;
  /** Decisions per call (CheckBatch items). */
  items: number;
  /** The echo server instead of Verdict. */
  echo?: true;
  /** What the scenario needs beyond the defaults. */
  verdictConfig: Partial<ConfigFile>;
  verdict(tokens: Tokens, requestId: string): VerdictRequest[];
  cerbos?: (tokens: Tokens) => CerbosRequest[];
}

/** Distinct tokens where a scenario rotates over many callers. */
export const DISTINCT = 1_000;
export const BATCH_ITEMS = 50;

export interface Tokens {
  /** A person's web app reading invoices (no rate counters: not an agent). */
  reader: string;
  /** DISTINCT readers, one user each. */
  readers: string[];
  /** DISTINCT people's apps moving money (payments:write). */
  payers: string[];
  /** One AI agent (agent-7) reading invoices for DISTINCT users. */
  agentReaders: string[];
  /** DISTINCT tokens with the trusted issuer's kid but a stranger's signature. */
  forged: string[];
  /** The subject of readers[i], payers[i] and agentReaders[i]. */
  subject(i: number): string;
}

/** Mints every token the scenarios use, valid for `lifetimeSeconds`. */
export async function mintTokens(issuer: TestIssuer, stranger: TestIssuer, lifetimeSeconds: number): Promise<Tokens> {
  const exp = Math.floor(Date.now() / 1000) + lifetimeSeconds;
  const subject = (i: number) => `user-${i}`;
  const many = (claims: (i: number) => Record<string, unknown>, by: TestIssuer = issuer, header = {}) =>
    Promise.all(Array.from({ length: DISTINCT }, (_, i) => by.token({ exp, ...claims(i) }, header)));
  return {
    reader: await issuer.token({ exp, sub: "user-reader", client_id: "web-app", scope: "invoices:read" }),
    readers: await many((i) => ({ sub: subject(i), client_id: "web-app", scope: "invoices:read" })),
    payers: await many((i) => ({ sub: subject(i), client_id: "web-app", scope: "payments:write" })),
    agentReaders: await many((i) => ({ sub: subject(i), client_id: "agent-7", client_type: "ai-agent", scope: "invoices:read" })),
    forged: await many((i) => ({ sub: subject(i), client_id: "web-app", scope: "invoices:read" }), stranger, { kid: issuer.kid }),
    subject,
  };
}

const INVOICE: CheckJson["resource"] = { type: "invoice", id: "inv-1", attributes: { status: "open", amount_due: 120, customer: { email: "c@example.com" } } };
const READ_CONTEXT = { view: "detail", page: 1 };

export function readRequest(token: string, requestId: string, resource: CheckJson["resource"] = INVOICE): CheckJson {
  return { token, action: "invoices:read", resource, context: READ_CONTEXT, request_id: requestId };
}

export function transferRequest(token: string, account: string, requestId: string, amount = 1): CheckJson {
  return {
    token,
    action: "payments:transfer",
    resource: { type: "account", id: account, attributes: {} },
    context: { amount, currency: "EUR" },
    request_id: requestId,
  };
}

export function batchRequest(token: string, requestId: string): BatchJson {
  const items = Array.from({ length: BATCH_ITEMS }, (_, i) => ({ action: "invoices:read", resource: { ...INVOICE, id: `inv-${i}` }, context: READ_CONTEXT }));
  return { token, items, request_id: requestId };
}

export function cerbosRead(token: string, subject: string): CerbosRequest {
  return {
    requestId: "bench",
    principal: { id: subject, roles: ["user"] },
    resources: [{ actions: ["invoices:read"], resource: { kind: "invoice", id: INVOICE.id, attr: INVOICE.attributes } }],
    auxData: { jwt: { token } },
  };
}

export function cerbosTransfer(token: string, subject: string, amount: number): CerbosRequest {
  return {
    requestId: "bench",
    principal: { id: subject, roles: ["user"] },
    resources: [{ actions: ["payments:transfer"], resource: { kind: "account", id: "acc-1", attr: { amount } } }],
    auxData: { jwt: { token } },
  };
}

export const SCENARIOS: readonly Scenario[] = [
  {
    id: "a",
    title: "stateless allow, same token",
    what: "invoices:read by a person's app, one token for every call (verified once, then from the token cache); no state",
    peer: true,
    flood: false,
    items: 1,
    verdictConfig: {},
    verdict: (t, id) => [readRequest(t.reader, id)],
    cerbos: (t) => [cerbosRead(t.reader, "user-reader")],
  },
  {
    id: "b",
    title: "stateless allow, 1,000 distinct tokens",
    what: `invoices:read over ${DISTINCT} tokens in turn with token_cache_entries 500: every call misses the cache and verifies a signature`,
    peer: true,
    flood: false,
    items: 1,
    verdictConfig: { token_cache_entries: 500 },
    verdict: (t, id) => t.readers.map((token) => readRequest(token, id)),
    cerbos: (t) => t.readers.map((token, i) => cerbosRead(token, t.subject(i))),
  },
  {
    id: "c",
    title: "stateful transfer (state read + reserve)",
    what: `payments:transfer of 1 by ${DISTINCT} people in turn: the demo policy reads the day's spend and reserves it (daily limit raised so it never refuses)`,
    peer: false,
    flood: false,
    items: 1,
    verdictConfig: {},
    verdict: (t, id) => t.payers.map((token, i) => transferRequest(token, `acc-${i}`, id)),
  },
  {
    id: "d",
    title: "an agent's read (two rate counters)",
    what: `invoices:read by one AI agent for ${DISTINCT} users in turn: the demo policy counts it per agent and per user in sliding minutes (rates raised so it never refuses)`,
    peer: false,
    flood: false,
    items: 1,
    verdictConfig: {},
    verdict: (t, id) => t.agentReaders.map((token) => readRequest(token, id)),
  },
  {
    id: "e",
    title: `CheckBatch of ${BATCH_ITEMS}`,
    what: `one CheckBatch call reads ${BATCH_ITEMS} invoices with one token; each item is a decision`,
    peer: false,
    flood: false,
    items: BATCH_ITEMS,
    verdictConfig: {},
    verdict: (t, id) => [batchRequest(t.reader, id)],
  },
  {
    id: "f",
    title: "invalid-token flood during valid traffic",
    what: `(a)'s valid calls, alone and while a second ghz sends ${DISTINCT} forged tokens in turn (trusted kid, wrong signature) at the same concurrency`,
    peer: true,
    flood: true,
    items: 1,
    verdictConfig: {},
    verdict: (t, id) => [readRequest(t.reader, id)],
    cerbos: (t) => [cerbosRead(t.reader, "user-reader")],
  },
  {
    id: "echo",
    title: "bare grpc-js echo (the floor)",
    what: "(a)'s request to a grpc-js server of the same service that answers a fixed ALLOW: what Node and grpc-js cost per call",
    peer: false,
    flood: false,
    items: 1,
    echo: true,
    verdictConfig: {},
    verdict: (t, id) => [readRequest(t.reader, id)],
  },
];

/** The flood's requests (scenario f). */
export function floodRequests(t: Tokens, requestId: string): CheckJson[] {
  return t.forged.map((token) => readRequest(token, requestId));
}

export function cerbosFloodRequests(t: Tokens): CerbosRequest[] {
  return t.forged.map((token, i) => cerbosRead(token, t.subject(i)));
}
