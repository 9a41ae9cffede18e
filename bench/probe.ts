// Before a scenario is measured, each server is asked a few questions whose answers
// are known: the scenario's own first request must be allowed (so counting ALLOWs
// counts good decisions), a forged token refused, and where Cerbos runs beside
// Verdict, both must give the same answers to the checks they are compared on
// (scope, audience, issuer, signature, amount). A server that answers otherwise
// is not measured: the bench stops.
import type { ReasonCode } from "@verdict/sdk/wire";
import { TestClient } from "../test/support/grpc.js";
import type { TestIssuer } from "../test/support/issuer.js";
import { cerbosCheck, type CerbosRequest } from "./targets/cerbos.js";
import { cerbosRead, cerbosTransfer, readRequest, transferRequest, type CheckJson, type VerdictRequest } from "./scenarios.js";
import type { ProbeResult, TargetName } from "./types.js";

type Expect = "allow" | "deny";

interface Question {
  check: string;
  expect: Expect;
  verdict?: VerdictRequest;
  cerbos?: CerbosRequest;
}

/** Verdict's answer as "ALLOW" or "DENY reason ..." (every item's, for a batch). */
async function askVerdict(client: TestClient, request: VerdictRequest): Promise<string> {
  if ("items" in request) {
    const result = await client.checkBatch({ token: request.token, items: request.items, requestId: request.request_id });
    if (!result.ok) return `gRPC ${result.code} ${result.details}`;
    const answers = new Set(
      result.response.results.map((r) => (r.response ? [r.response.decision, ...r.response.reasons.map((x) => x.code)].join(" ") : `error ${r.error?.code}`)),
    );
    return [...answers].join(", ");
  }
  const result = await client.call({
    token: request.token,
    action: request.action,
    resource: request.resource,
    context: request.context,
    requestId: request.request_id,
  });
  if (!result.ok) return `gRPC ${result.code} ${result.details}`;
  return [result.response.decision, ...result.response.reasons.map((r) => r.code)].join(" ");
}

async function askCerbos(httpUrl: string, request: CerbosRequest): Promise<string> {
  const answer = await cerbosCheck(httpUrl, request);
  return answer.ok ? answer.effect : `refused ${answer.status} ${answer.message}`;
}

/**
 * Verdict's fail-closed refusals: not the policy's answer. A probe that gets one
 * (a cold connection on a busy machine can miss the 50 ms state deadline) asks again.
 */
export const FAIL_CLOSED: readonly ReasonCode[] = ["state_unavailable", "issuer_unavailable", "policy_error", "audit_unavailable", "internal_error"];
const PROBE_ATTEMPTS = 5;

async function askVerdictPatiently(client: TestClient, request: VerdictRequest): Promise<string> {
  let answer = "";
  for (let attempt = 1; attempt <= PROBE_ATTEMPTS; attempt++) {
    answer = await askVerdict(client, request);
    if (!FAIL_CLOSED.some((code) => answer.includes(` ${code}`))) return answer;
  }
  return `${answer} (${PROBE_ATTEMPTS} times)`;
}

const verdictSays = (answer: string): Expect | "other" => (answer === "ALLOW" ? "allow" : answer.startsWith("DENY") ? "deny" : "other");
const cerbosSays = (answer: string): Expect | "other" =>
  answer === "EFFECT_ALLOW" ? "allow" : answer === "EFFECT_DENY" || answer.startsWith("refused 400") ? "deny" : "other";

/** The checks both PDPs are compared on, as one question each. */
export async function conformanceQuestions(issuer: TestIssuer, stranger: TestIssuer): Promise<Question[]> {
  const probe = "probe";
  const read = (token: string) => ({ verdict: readRequest(token, probe), cerbos: cerbosRead(token, "probe-user") });
  const transfer = async (amount: number) => {
    const token = await issuer.token({ sub: "probe-payer", client_id: "web-app", scope: "payments:write" });
    return { verdict: transferRequest(token, "acc-probe", probe, amount), cerbos: cerbosTransfer(token, "probe-payer", amount) };
  };
  const reader = (claims: Record<string, unknown> = {}) => issuer.token({ sub: "probe-user", client_id: "web-app", scope: "invoices:read", ...claims });
  return [
    { check: "a valid read", expect: "allow", ...read(await reader()) },
    { check: "a token without the action's scope", expect: "deny", ...read(await reader({ scope: "invoices:write" })) },
    { check: "a token for another audience", expect: "deny", ...read(await reader({ aud: "https://elsewhere.example" })) },
    { check: "a token from another issuer (trusted key)", expect: "deny", ...read(await reader({ iss: "https://elsewhere.example" })) },
    {
      check: "a forged signature (trusted kid)",
      expect: "deny",
      ...read(await stranger.token({ sub: "probe-user", client_id: "web-app", scope: "invoices:read" }, { kid: issuer.kid })),
    },
    { check: "a transfer within the per-transaction limit", expect: "allow", ...(await transfer(10)) },
    { check: "a transfer over the per-transaction limit", expect: "deny", ...(await transfer(600)) },
  ];
}

export interface ProbeTargets {
  verdict?: { address: string; apiKey: string };
  cerbos?: { httpUrl: string };
  echo?: { address: string };
}

export interface ScenarioQuestions {
  /** The first request of the scenario's valid stream, to Verdict (or the echo server). */
  verdict: VerdictRequest;
  /** The same for Cerbos, where it runs. */
  cerbos?: CerbosRequest;
  /** The first request of the flood. */
  forged?: CheckJson;
  /** The checks both PDPs are compared on (where Cerbos runs). */
  conformance: Question[];
}

export async function probe(targets: ProbeTargets, questions: ScenarioQuestions): Promise<ProbeResult[]> {
  const scenarioRequest = questions.verdict;
  const forged = questions.forged;
  const results: ProbeResult[] = [];
  const record = (check: string, target: TargetName, expected: Expect, actual: string, says: Expect | "other") =>
    results.push({ check, target, expected, actual, ok: says === expected });
  const all: Question[] = [
    { check: "the scenario's own request", expect: "allow", verdict: scenarioRequest, ...(questions.cerbos ? { cerbos: questions.cerbos } : {}) },
    ...(forged ? [{ check: "the flood's forged token", expect: "deny" as const, verdict: forged }] : []),
    ...questions.conformance,
  ];
  if (targets.verdict) {
    const client = new TestClient(targets.verdict.address, targets.verdict.apiKey);
    try {
      for (const q of all) {
        if (!q.verdict) continue;
        const answer = await askVerdictPatiently(client, q.verdict);
        // A batch is allowed when every item is.
        record(q.check, "verdict", q.expect, answer, answer.split(", ").every((a) => verdictSays(a) === q.expect) ? q.expect : "other");
      }
    } finally {
      client.close();
    }
  }
  if (targets.echo) {
    const client = new TestClient(targets.echo.address, undefined);
    try {
      const answer = await askVerdict(client, scenarioRequest);
      record("the scenario's own request", "echo", "allow", answer, verdictSays(answer));
    } finally {
      client.close();
    }
  }
  if (targets.cerbos) {
    for (const q of all) {
      if (!q.cerbos) continue;
      const answer = await askCerbos(targets.cerbos.httpUrl, q.cerbos);
      record(q.check, "cerbos", q.expect, answer, cerbosSays(answer));
    }
  }
  return results;
}
