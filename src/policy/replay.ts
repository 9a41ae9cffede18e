// Replay: recorded decisions re-evaluated with a candidate bundle, to know what a
// policy change would change before it lands. Each record becomes the policy input
// it can be rebuilt into (an audit record holds no token and masks caller data:
// what cannot be rebuilt is listed in REPLAY_LIMITS), goes through the engine and
// its output validation as the server runs them (state queries first), and its
// obligations are judged against the counters the record shows. A baseline (the
// bundle that decided) replayed beside it tells which records replay reproduces.
// Pure: the records and the state come from the caller (the CLI reads them).
import type { JsonObject } from "@verdict/sdk/wire";
import { actorEntry, type ActorEntry } from "../token/index.js";
import { storageKey, windowLabel, type FieldChange, type ObligationBase, type StateQuery } from "../contract/index.js";
import { answerChanges, type ComparableAnswer } from "./compare.js";
import type { PolicyEngine } from "./engine.js";
import { decideAsServer } from "./evaluate.js";
import type { PolicyInput } from "./input.js";
import { PolicyError, type PolicyDecision } from "./output.js";

/** Who asked, as the verified token said: absent when the token did not verify (no policy ran). */
type RecordedPrincipal = Partial<Record<"subject" | "client_id" | "client_type" | "issuer" | "acr", string>> & { scopes?: string[] };

/** The fields of an audit record replay reads (audit/'s AuditRecord has them). */
export interface RecordedDecision extends RecordedPrincipal {
  decision_id: string;
  /** RFC 3339. */
  time: string;
  caller: { api: string; audience: string };
  actors: ActorEntry[];
  action: string;
  resource: { type: string; id: string; attributes: JsonObject };
  context: JsonObject;
  /** ALLOW, DENY, STEP_UP, or ERROR (no decision). */
  decision: string;
  reasons: { code: string }[];
  /** What was enforced (key as the trail stores it, parts URI-encoded and joined by "/"). */
  obligations: { type: string; key: string; amount: number; limit: number; window: string; total: number }[];
  policy_revision: string;
  token: { jti?: string };
  dry_run: boolean;
}

/** What replay cannot rebuild from an audit record; said in its output and in docs/policies.md. */
export const REPLAY_LIMITS: readonly string[] = [
  "the token: only its subject, client, scopes, acr, issuer, act chain and jti are recorded; auth_time, issued_at and expires_at are not (a step-up's freshness cannot be judged: a policy reading auth_time sees none, and expires_at is taken as the decision's time)",
  "caller data the audit trail masks or drops (settings.audit): a masked value is replayed as the text [masked], a dropped field is absent",
  "batches: input.batch is not recorded; each item of a CheckBatch is replayed alone",
  "AuthZEN evaluations: input.authzen (the directory's properties) is not recorded",
  "state: a counter is answered with its total before the decision when the record enforced that counter, else read from the database as it is now (the window of the decision's time, with everything counted in it since)",
  "enforcement: a reserve or rate obligation is judged against the counter total the record shows (the total before the decision plus its amount, within its limit); other obligations, and counters the record did not enforce, are taken to hold",
  "decisions no policy made (the token did not verify, an internal error) are not replayed",
];

/** Reason codes of failures outside the policy: the recorded answer is not the policy's. */
const FAILURES = new Set(["state_unavailable", "audit_unavailable", "internal_error"]);

/** Reads counters for a record's time from the database (read only). */
export type CounterReader = (queries: readonly StateQuery[], nowMs: number) => Promise<JsonObject>;

export interface ReplayOptions {
  candidate: PolicyEngine;
  /** The bundle that made the recorded decisions, replayed beside the candidate: does replay reproduce them? */
  baseline?: PolicyEngine;
  readCounters: CounterReader;
  /** The text the audit trail puts in place of a masked value (audit/'s MASKED). */
  masked: string;
  /** Examples (decision ids) kept per group of changes (default 5). */
  examplesPerGroup?: number;
}

/** One record's outcome. */
export type ReplayOutcome =
  | { kind: "not_replayed"; why: "token_not_verified" | "internal_error" }
  | {
      kind: "replayed";
      /** reproduced: the baseline answers as recorded; not_reproduced: it does not; not_verified: no baseline of the record's revision. */
      fidelity: "reproduced" | "not_reproduced" | "not_verified";
      /** Why the baseline did not reproduce the record, as far as can be told. */
      causes: string[];
      /** What the candidate changes, against the record (or, when not reproduced, against the baseline's replay). */
      changes: FieldChange[];
      basis: "recorded" | "baseline";
      from: Answer;
      to: Answer;
    };

/** An answer as replay compares it: the decision after enforcement, its reason codes, what it enforced. */
export interface Answer {
  decision: "ALLOW" | "DENY" | "STEP_UP";
  reasons: string[];
  obligations: JsonObject[];
  /** The policy failed (policy_error): why. */
  error?: string;
}

export interface ReplayExample {
  decision_id: string;
  time: string;
  action: string;
  agent: string;
  subject: string;
  fidelity: "reproduced" | "not_reproduced" | "not_verified";
  basis: "recorded" | "baseline";
  from: Answer;
  to: Answer;
  changes: FieldChange[];
}

export interface ReplaySummary {
  candidate: string;
  baseline: string | null;
  read: number;
  replayed: number;
  not_replayed: { token_not_verified: number; internal_error: number };
  fidelity: {
    reproduced: number;
    not_reproduced: number;
    not_verified: number;
    /** Revisions of records the baseline did not make. */
    other_revisions: Record<string, number>;
    causes: Record<string, number>;
  };
  /** How the candidate's state queries were answered. */
  state: { from_record: number; from_database: number };
  /** Records holding masked caller data. */
  masked: number;
  changed: { total: number; reproduced: number; not_reproduced: number; not_verified: number };
  by_effect: Record<string, number>;
  by_action: Record<string, { changed: number; replayed: number }>;
  by_reason: Record<string, number>;
  by_agent: Record<string, number>;
  examples: ReplayExample[];
  limits: readonly string[];
}

export class Replay {
  private readonly summary: ReplaySummary;
  private readonly groups = new Map<string, number>();

  constructor(private readonly options: ReplayOptions) {
    this.summary = {
      candidate: options.candidate.revision,
      baseline: options.baseline?.revision ?? null,
      read: 0,
      replayed: 0,
      not_replayed: { token_not_verified: 0, internal_error: 0 },
      fidelity: { reproduced: 0, not_reproduced: 0, not_verified: 0, other_revisions: {}, causes: {} },
      state: { from_record: 0, from_database: 0 },
      masked: 0,
      changed: { total: 0, reproduced: 0, not_reproduced: 0, not_verified: 0 },
      by_effect: {},
      // Keyed by what the records say (an action may be named "constructor"): no prototype to find such a key on.
      by_action: Object.create(null) as ReplaySummary["by_action"],
      by_reason: Object.create(null) as ReplaySummary["by_reason"],
      by_agent: Object.create(null) as ReplaySummary["by_agent"],
      examples: [],
      limits: REPLAY_LIMITS,
    };
  }

  /** Replays one record and counts it in the summary. */
  async add(record: RecordedDecision): Promise<ReplayOutcome> {
    const s = this.summary;
    s.read += 1;
    if (record.decision === "ERROR") {
      s.not_replayed.internal_error += 1;
      return { kind: "not_replayed", why: "internal_error" };
    }
    if (record.subject === undefined) {
      s.not_replayed.token_not_verified += 1;
      return { kind: "not_replayed", why: "token_not_verified" };
    }
    s.replayed += 1;
    const masked = holdsMasked(record, this.options.masked);
    if (masked) s.masked += 1;
    const input = rebuildInput(record);
    const recorded = recordedAnswer(record);
    const { candidate, baseline } = this.options;
    const verifiable = baseline !== undefined && baseline.revision === record.policy_revision;
    if (!verifiable) s.fidelity.other_revisions[record.policy_revision] = (s.fidelity.other_revisions[record.policy_revision] ?? 0) + 1;
    const [to, base] = await Promise.all([
      this.replayWith(candidate, input, record, true),
      verifiable ? this.replayWith(baseline, input, record, false) : undefined,
    ]);

    let fidelity: "reproduced" | "not_reproduced" | "not_verified" = "not_verified";
    let causes: string[] = [];
    if (base) {
      fidelity = answerChanges(comparable(recorded), comparable(base.answer)).length === 0 ? "reproduced" : "not_reproduced";
      if (fidelity === "not_reproduced") causes = whyNotReproduced(recorded, base, masked);
    }
    s.fidelity[fidelity] += 1;
    for (const cause of causes) s.fidelity.causes[cause] = (s.fidelity.causes[cause] ?? 0) + 1;

    // Against the record, unless the replay did not reproduce it: then against the baseline's replay of the same input.
    const basis = fidelity === "not_reproduced" ? "baseline" : "recorded";
    const from = basis === "baseline" && base ? base.answer : recorded;
    const changes = answerChanges(comparable(from), comparable(to.answer));
    const action = (s.by_action[record.action] ??= { changed: 0, replayed: 0 });
    action.replayed += 1;
    if (changes.length > 0) this.count(record, fidelity, basis, from, to.answer, changes);
    return { kind: "replayed", fidelity, causes, changes, basis, from, to: to.answer };
  }

  result(): ReplaySummary {
    return this.summary;
  }

  private count(
    record: RecordedDecision,
    fidelity: "reproduced" | "not_reproduced" | "not_verified",
    basis: "recorded" | "baseline",
    from: Answer,
    to: Answer,
    changes: FieldChange[],
  ): void {
    const s = this.summary;
    s.changed.total += 1;
    s.changed[fidelity] += 1;
    const effect = `${from.decision} → ${to.decision}`;
    s.by_effect[effect] = (s.by_effect[effect] ?? 0) + 1;
    (s.by_action[record.action] as { changed: number }).changed += 1;
    for (const c of changes) {
      if (c.field !== "reasons") continue;
      const key = typeof c.to === "string" ? `+${c.to}` : typeof c.from === "string" ? `-${c.from}` : undefined;
      if (key === undefined) continue;
      s.by_reason[key] = (s.by_reason[key] ?? 0) + 1;
    }
    const agent = record.client_id ?? "";
    s.by_agent[agent] = (s.by_agent[agent] ?? 0) + 1;
    // A few decision ids per (action, effect change), so that each kind of change has its examples.
    const group = `${record.action} ${effect}`;
    const seen = this.groups.get(group) ?? 0;
    if (seen < (this.options.examplesPerGroup ?? 5)) {
      this.groups.set(group, seen + 1);
      s.examples.push({
        decision_id: record.decision_id,
        time: record.time,
        action: record.action,
        agent,
        subject: record.subject ?? "",
        fidelity,
        basis,
        from,
        to,
        changes,
      });
    }
  }

  /** The answer a bundle gives the rebuilt input, its obligations judged against the counters the record shows. */
  private async replayWith(
    engine: PolicyEngine,
    input: PolicyInput,
    record: RecordedDecision,
    counted: boolean,
  ): Promise<{ answer: Answer; decision?: PolicyDecision }> {
    const nowMs = Date.parse(record.time);
    try {
      const { decision } = await decideAsServer(engine, input, async (queries) => {
        const fromRecord: JsonObject = {};
        const rest: StateQuery[] = [];
        for (const q of queries) {
          const counter = recordedCounter(record, q.key, windowLabel(q.window));
          if (counter) fromRecord[q.name] = counter.total - counter.amount;
          else rest.push(q);
        }
        if (counted) {
          this.summary.state.from_record += queries.length - rest.length;
          this.summary.state.from_database += rest.length;
        }
        return { ...(rest.length > 0 ? await this.options.readCounters(rest, nowMs) : {}), ...fromRecord };
      });
      return { answer: enforced(engine, decision, record), decision };
    } catch (error) {
      if (!(error instanceof PolicyError)) throw error;
      return { answer: { decision: "DENY", reasons: ["policy_error"], obligations: [], error: error.message } };
    }
  }
}

/** The policy input a record can be rebuilt into (REPLAY_LIMITS says what it lacks). */
export function rebuildInput(record: RecordedDecision): PolicyInput {
  const now = Math.floor(Date.parse(record.time) / 1000);
  return {
    action: record.action,
    resource: { type: record.resource.type, id: record.resource.id, attributes: record.resource.attributes },
    context: record.context,
    principal: {
      subject: record.subject ?? "",
      client_id: record.client_id ?? "",
      client_type: record.client_type ?? "",
      actors: record.actors.map(actorEntry),
      delegation_depth: record.actors.length,
      scopes: record.scopes ?? [],
      ...(record.acr !== undefined ? { acr: record.acr } : {}),
      issuer: record.issuer ?? "",
      ...(record.token.jti !== undefined ? { token_id: record.token.jti } : {}),
      expires_at: now,
    },
    caller: record.caller,
    state: {},
    now,
  };
}

/** The decision as the server would have enforced it: an allow whose counter obligation the record's totals refuse becomes its failure. */
function enforced(engine: PolicyEngine, decision: PolicyDecision, record: RecordedDecision): Answer {
  const reasons = decision.reasons.map((r) => r.code);
  if (decision.effect !== "allow") return { decision: decision.effect === "deny" ? "DENY" : "STEP_UP", reasons, obligations: [] };
  // A dry run applies nothing (its record shows no obligations): only its effect and reasons are compared.
  if (record.dry_run) return { decision: "ALLOW", reasons, obligations: [] };
  for (const o of decision.obligations) {
    if (refusedByRecord(engine, o, record)) {
      return { decision: o.onFailure.effect === "step_up" ? "STEP_UP" : "DENY", reasons: [o.reason.code], obligations: [] };
    }
  }
  return { decision: "ALLOW", reasons, obligations: decision.obligations.map((o) => engine.obligations.summary(o)) };
}

/** A reserve or rate whose counter the record enforced: would it still fit under this obligation's limit? */
function refusedByRecord(engine: PolicyEngine, o: ObligationBase, record: RecordedDecision): boolean {
  if (o.type !== "reserve" && o.type !== "rate") return false;
  const summary = engine.obligations.summary(o);
  const window = summary["window"];
  const counter = typeof window === "string" ? recordedCounter(record, o.key, window) : undefined;
  if (!counter) return false;
  const amount = typeof summary["amount"] === "number" ? summary["amount"] : 1;
  const limit = summary["limit"];
  return typeof limit === "number" && counter.total - counter.amount + amount > limit;
}

/** The counter obligation of the record on this key and window (reserve or rate), if it enforced one. */
function recordedCounter(record: RecordedDecision, key: readonly string[], window: string): { total: number; amount: number } | undefined {
  const id = storageKey(key);
  return record.obligations.find((o) => (o.type === "reserve" || o.type === "rate") && o.key === id && o.window === window);
}

function recordedAnswer(record: RecordedDecision): Answer {
  return {
    decision: record.decision as Answer["decision"],
    reasons: record.reasons.map((r) => r.code),
    // the trail's key is URI-encoded parts joined by "/": back to the policy's list
    obligations: record.dry_run
      ? []
      : record.obligations.map(({ type, key, amount, limit, window }) => ({ type, key: key.split("/").map(decodeURIComponent), amount, limit, window })),
  };
}

/**
 * Both sides in compare.ts's terms. The trail keeps every enforced obligation with
 * amount, limit and window; a type's summary may have fewer (rate has no amount) or
 * others (once's expires_at): only the fields both forms have are compared.
 */
function comparable(answer: Answer): ComparableAnswer {
  return {
    effect: answer.decision.toLowerCase(),
    reasons: answer.reasons.map((code) => ({ code })),
    obligations: answer.obligations.map((o) => {
      const { type, key, amount, limit, window } = o;
      const kept: JsonObject = { type: type ?? null, key: key ?? null };
      if (type === "reserve" && amount !== undefined) kept["amount"] = amount;
      if ((type === "reserve" || type === "rate") && limit !== undefined) kept["limit"] = limit;
      if ((type === "reserve" || type === "rate") && window !== undefined) kept["window"] = window;
      return kept;
    }),
  };
}

/** Why the baseline's replay differs from the record, as far as the record tells. */
function whyNotReproduced(recorded: Answer, base: { answer: Answer; decision?: PolicyDecision }, masked: boolean): string[] {
  const causes: string[] = [];
  if (base.answer.error !== undefined && !recorded.reasons.includes("policy_error"))
    causes.push("the policy fails on the rebuilt input (policy_error): it reads something the record does not hold");
  const failure = recorded.reasons.find((code) => FAILURES.has(code));
  if (failure) causes.push(`the recorded decision was a failure outside the policy (${failure})`);
  else if (recorded.reasons.includes("policy_error") && base.answer.error === undefined)
    causes.push("the policy failed when it decided (policy_error), not in the replay");
  const policy = base.decision;
  if (policy?.effect === "allow" && recorded.decision !== "ALLOW" && policy.obligations.some((o) => recorded.reasons.includes(o.reason.code))) {
    causes.push("an obligation was refused when it was enforced (a limit reached then, a key already used)");
  }
  if (policy?.effect === "step_up" && policy.stepUp?.maxAge !== undefined && recorded.decision === "ALLOW") {
    causes.push("auth_time is not recorded: a step-up the user had met could not be judged fresh");
  }
  if (masked) causes.push("the record holds masked caller data");
  if (causes.length === 0) causes.push("not told by the record (state read as it is now, a batch, an AuthZEN evaluation, a dropped field)");
  return causes;
}

function holdsMasked(record: RecordedDecision, marker: string): boolean {
  return record.resource.id === marker || JSON.stringify([record.context, record.resource.attributes]).includes(JSON.stringify(marker));
}
