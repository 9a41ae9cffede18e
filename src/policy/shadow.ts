// Shadow evaluation: a candidate bundle is evaluated beside the active one, the
// answer is always the active one's, and every disagreement is recorded so that an
// author can see what a rollout would change before it changes anything.
// Disagreements go to MongoDB (through the StateStore, with an expiry) and are
// read back with `verdict policy disagreements`.
import type { Collection } from "mongodb";
import type { Logger, Metrics } from "../observability/index.js";
import type { Reason } from "../reasons/index.js";
import type { StateStore } from "../state/index.js";
import { describeObligation, type Effect, type ObligationRequest, type PolicyDecision } from "./output.js";

export const SHADOW_COLLECTION = "policy_shadow_disagreements";

/** What one bundle said, as recorded and compared (the policy's answer, before obligations). */
export interface PolicyVerdict {
  revision: string;
  effect: Effect;
  reasons: Reason[];
  obligations: Record<string, unknown>[];
  /** Set when the bundle failed to evaluate (its effect is then deny, reason policy_error). */
  error?: string;
}

export type Difference = "effect" | "reasons" | "obligations";

export function policyVerdict(revision: string, decision: PolicyDecision): PolicyVerdict {
  return {
    revision,
    effect: decision.effect,
    reasons: decision.reasons,
    obligations: decision.obligations.map(obligationSummary),
  };
}

export function failedVerdict(revision: string, error: string): PolicyVerdict {
  return { revision, effect: "deny", reasons: [{ code: "policy_error", message: "The policy could not produce a valid decision." }], obligations: [], error };
}

function obligationSummary(o: ObligationRequest) {
  return describeObligation(o);
}

/** Where two answers differ: the effect, the set of reason codes, or the obligations asked for. */
export function compareVerdicts(active: PolicyVerdict, shadow: PolicyVerdict): Difference[] {
  const differences: Difference[] = [];
  if (active.effect !== shadow.effect) differences.push("effect");
  const codes = (v: PolicyVerdict) => JSON.stringify(v.reasons.map((r) => r.code).sort());
  if (codes(active) !== codes(shadow)) differences.push("reasons");
  const obligations = (v: PolicyVerdict) => JSON.stringify(v.obligations.map((o) => JSON.stringify(o)).sort());
  if (obligations(active) !== obligations(shadow)) differences.push("obligations");
  return differences;
}

/** One recorded disagreement. No token and no request context (it may hold personal data). */
export interface Disagreement {
  decisionId: string;
  at: Date;
  caller: string;
  action: string;
  resource: { type: string; id: string };
  subject: string;
  clientId: string;
  clientType: string;
  differs: Difference[];
  active: PolicyVerdict;
  shadow: PolicyVerdict;
}

interface DisagreementDoc extends Omit<Disagreement, "decisionId"> {
  _id: string;
  expiresAt: Date;
}

export interface ShadowRecorderOptions {
  store: StateStore;
  retentionDays: number;
  log: Logger;
  metrics: Metrics;
  /** Writes in flight beyond this are dropped (and counted): recording never builds a backlog. */
  maxInFlight?: number;
}

export class ShadowRecorder {
  private inFlight = 0;
  private indexes: Promise<void> | undefined;
  private lastWarning = 0;
  private readonly pending = new Set<Promise<void>>();

  constructor(private readonly options: ShadowRecorderOptions) {}

  /** Records in the background; never throws and never waits for the database. */
  record(disagreement: Disagreement): void {
    const { maxInFlight = 64, metrics } = this.options;
    if (this.inFlight >= maxInFlight) {
      metrics.shadowRecordFailures.inc();
      this.warn("too many shadow disagreements being written; dropping one");
      return;
    }
    this.inFlight += 1;
    const write = this.write(disagreement)
      .catch((error: unknown) => {
        metrics.shadowRecordFailures.inc();
        this.warn(`could not record a shadow disagreement: ${(error as Error).message}`);
      })
      .finally(() => {
        this.inFlight -= 1;
        this.pending.delete(write);
      });
    this.pending.add(write);
  }

  /** Waits for the writes in flight (at shutdown, and in tests). */
  async flush(): Promise<void> {
    await Promise.all([...this.pending]);
  }

  private async write(d: Disagreement): Promise<void> {
    const { store, retentionDays } = this.options;
    await this.ensureIndexes();
    const { decisionId, ...rest } = d;
    const doc: DisagreementDoc = { _id: decisionId, ...rest, expiresAt: new Date(d.at.getTime() + retentionDays * 86_400_000) };
    await store.call("record shadow disagreement", (deadline) => collection(store).insertOne(doc, deadline));
  }

  private ensureIndexes(): Promise<void> {
    this.indexes ??= ensureShadowIndexes(this.options.store).catch((error: unknown) => {
      this.indexes = undefined;
      throw error;
    });
    return this.indexes;
  }

  private warn(message: string): void {
    // At most one warning every 10 s: the metric counts them all.
    const now = Date.now();
    if (now - this.lastWarning < 10_000) return;
    this.lastWarning = now;
    this.options.log.warn(message);
  }
}

function collection(store: StateStore): Collection<DisagreementDoc> {
  return store.collection<DisagreementDoc>(SHADOW_COLLECTION);
}

/** A TTL index lets MongoDB delete old records; reads check expiresAt themselves (servers that ignore TTL). */
async function ensureShadowIndexes(store: StateStore): Promise<void> {
  const disagreements = collection(store);
  await store.call("create shadow indexes", () => disagreements.createIndex({ expiresAt: 1 }, { name: "expiresAt_ttl", expireAfterSeconds: 0 }));
  await store.call("create shadow indexes", () => disagreements.createIndex({ at: -1 }, { name: "at" }));
}

export interface ListOptions {
  limit: number;
  /** Only records at or after this time. */
  since?: Date;
  /** Only records where the shadow bundle had this revision. */
  shadowRevision?: string;
  now?: Date;
}

/** The most recent disagreements first. */
export async function listDisagreements(store: StateStore, { limit, since, shadowRevision, now = new Date() }: ListOptions): Promise<Disagreement[]> {
  const filter: Record<string, unknown> = { expiresAt: { $gt: now } };
  if (since) filter["at"] = { $gte: since };
  if (shadowRevision !== undefined) filter["shadow.revision"] = shadowRevision;
  const docs = await store.call("list shadow disagreements", (deadline) =>
    collection(store).find(filter, deadline).sort({ at: -1 }).limit(limit).toArray(),
  );
  return docs.map(({ _id, expiresAt: _expiresAt, ...rest }) => ({ decisionId: _id, ...rest }));
}
