// Where shadow evaluation's disagreements are kept (decide/ hands them over as a
// DisagreementRecorder), and read back by `verdict policy disagreements`. Written
// in the background under the state deadline, with an expiry the sweep honours.
import type { Collection } from "mongodb";
import type { Disagreement, DisagreementRecorder } from "../contract/index.js";
import { defineCollection, type Database } from "../database/index.js";
import { CountedWarning, type Logger, type Metrics } from "../observability/index.js";
import type { StateCalls } from "./calls.js";

interface DisagreementDoc extends Omit<Disagreement, "decisionId"> {
  _id: string;
  expiresAt: Date;
}

export const DISAGREEMENTS = defineCollection<DisagreementDoc>({
  name: "policy_shadow_disagreements",
  indexes: [{ key: { at: -1 }, name: "at" }],
  expiresAt: "expiresAt",
});

export interface DisagreementStoreOptions {
  retentionDays: number;
  log: Logger;
  metrics: Metrics;
  /** Writes in flight beyond this are dropped (and counted): recording never builds a backlog. */
  maxInFlight?: number;
}

export interface ListOptions {
  limit: number;
  /** Only records at or after this time. */
  since?: Date;
  /** Only records where the shadow bundle had this revision. */
  shadowRevision?: string;
  now?: Date;
}

export class DisagreementStore implements DisagreementRecorder {
  private readonly collection: Collection<DisagreementDoc>;
  private inFlight = 0;
  private readonly pending = new Set<Promise<void>>();
  // A warning each at once, then at most one line per 10 s counting the rest (the metric counts them all).
  private readonly dropped: CountedWarning;
  private readonly failed: CountedWarning;

  constructor(
    private readonly database: Database,
    private readonly calls: StateCalls,
    private readonly options: DisagreementStoreOptions,
  ) {
    this.collection = database.collection(DISAGREEMENTS);
    this.dropped = new CountedWarning(options.log, "too many shadow disagreements being written; dropped one");
    this.failed = new CountedWarning(options.log, "could not record a shadow disagreement");
  }

  /** Records in the background; never throws and never waits for the database. */
  record(disagreement: Disagreement): void {
    const { maxInFlight = 64, metrics } = this.options;
    if (this.inFlight >= maxInFlight) {
      metrics.shadowRecordFailures.inc();
      this.dropped.count();
      return;
    }
    this.inFlight += 1;
    const write = this.write(disagreement)
      .catch((error: unknown) => {
        metrics.shadowRecordFailures.inc();
        this.failed.count({ error: (error as Error).message });
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

  /** The most recent disagreements first. */
  async list({ limit, since, shadowRevision, now = new Date() }: ListOptions): Promise<Disagreement[]> {
    const filter: Record<string, unknown> = { expiresAt: { $gt: now } };
    if (since) filter["at"] = { $gte: since };
    if (shadowRevision !== undefined) filter["shadow.revision"] = shadowRevision;
    const docs = await this.calls.call("list shadow disagreements", (deadline) =>
      this.collection.find(filter, deadline).sort({ at: -1 }).limit(limit).toArray(),
    );
    return docs.map(({ _id, expiresAt: _expiresAt, ...rest }) => ({ decisionId: _id, ...rest }));
  }

  private async write(d: Disagreement): Promise<void> {
    // The collection is created with its indexes (the TTL index included) before the first record.
    await this.database.ensureIndexes([DISAGREEMENTS]);
    const { decisionId, ...rest } = d;
    const doc: DisagreementDoc = { _id: decisionId, ...rest, expiresAt: new Date(d.at.getTime() + this.options.retentionDays * 86_400_000) };
    await this.calls.call("record shadow disagreement", (deadline) => this.collection.insertOne(doc, deadline));
  }
}
