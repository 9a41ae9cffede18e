// The approvals collection: one document per request a person was asked about.
// Every change of status is one conditional update on the document's status, so
// approving, refusing and using an approval each happen at most once, whichever
// replica (or two people at once) tries.
import type { Collection, Filter } from "mongodb";
import type { JsonObject } from "@verdict/sdk/wire";
import type { Approver } from "../contract/index.js";
import { defineCollection, type Database } from "../database/index.js";
import { isDuplicateKey, type StateCalls } from "../state/index.js";
import type { Binding } from "./binding.js";

export type ApprovalStatus = "pending" | "approved" | "refused" | "consumed" | "expired";
export const APPROVAL_STATUSES: readonly ApprovalStatus[] = ["pending", "approved", "refused", "consumed", "expired"];

/** Who approved or refused, never their token. */
export interface Decider {
  issuer: string;
  subject: string;
  client_id?: string;
  acr?: string;
  via: "grpc" | "http" | "cli";
  at: Date;
  reason?: string;
}

export interface ApprovalDoc extends Binding {
  _id: string;
  status: ApprovalStatus;
  /** The API the request was made to: only it can use the approval. */
  api: string;
  fields: string[];
  created_at: Date;
  expires_at: Date;
  /** Kept this long after it ends, so that a late retry is told "expired" or "used", not "not found". */
  purge_at: Date;
  acr_values: string[];
  max_age?: number;
  /** Scopes the deciding token must carry (absent: kept before 2026-12-08, none asked). */
  scopes?: string[];
  approvers: Approver[];
  authorization_details: JsonObject[];
  requested_by: string;
  /** requirementDigest() of the requirement it was asked under (absent: kept before 2026-12-07; requirementOf() works it out). */
  requirement?: string;
  /**
   * requestKey() of the request it was asked for, held only while it is pending (unique: the same request is kept
   * once, whichever process is asked); absent once it left pending, and on approvals kept before 2026-12-07.
   */
  request_key?: string;
  /** When the webhook was last told of it (absent: at created_at). */
  notified_at?: Date;
  consumed_by?: string;
  consumed_at?: Date;
  decided_by?: Decider;
}

/** How long an approval is kept after it expired. */
export const RETENTION_MS = 7 * 86_400_000;

export const APPROVALS = defineCollection<ApprovalDoc>({
  name: "approvals",
  indexes: [
    { key: { issuer: 1, subject: 1, created_at: -1 }, name: "approvals_user" },
    { key: { client_id: 1, created_at: -1 }, name: "approvals_agent" },
    { key: { status: 1, expires_at: 1 }, name: "approvals_status_expiry" },
    // An agent's pending approvals for one user at one API: counted against max_pending_per_agent, and searched for the same request.
    { key: { api: 1, issuer: 1, subject: 1, client_id: 1, status: 1, expires_at: 1 }, name: "approvals_pending_per_agent" },
    // One pending approval per request across processes. Sparse, the key unset as an approval leaves pending, rather
    // than partial on status: the pinned test server (mongo-java-server) ignores partialFilterExpression.
    { key: { request_key: 1 }, name: "approvals_pending_request", unique: true, sparse: true },
  ],
  expiresAt: "purge_at",
});

export interface ListFilter {
  issuer?: string;
  subject?: string;
  client_id?: string;
  status?: ApprovalStatus;
  limit: number;
}

/** Whose pending approvals are counted together: one agent (issuer and client_id) asking one user (issuer and subject) at one API. */
export type PendingOwner = Pick<ApprovalDoc, "api" | "issuer" | "subject" | "client_id">;

/** The status a document has now: pending and approved ones end at expires_at, whether or not anyone marked them. */
export function statusAt(doc: Pick<ApprovalDoc, "status" | "expires_at">, now: Date): ApprovalStatus {
  return (doc.status === "pending" || doc.status === "approved") && doc.expires_at <= now ? "expired" : doc.status;
}

export class ApprovalStore {
  private readonly collection: Collection<ApprovalDoc>;

  constructor(
    private readonly database: Database,
    /**
     * How each call is sent: the process's state calls (state_timeout_ms), which refuse a call once the database
     * has been silent that long, or after four times that in all, never because the process was too busy to take
     * an answer in; and refuse at once while the database is known silent.
     */
    private readonly calls: StateCalls,
  ) {
    this.collection = database.collection(APPROVALS);
  }

  /** state_timeout_ms: a give-back's retries are paced by it. */
  get timeoutMs(): number {
    return this.calls.timeoutMs;
  }

  /** A give-back's retries under way in the background: closing the database waits for them. */
  finishBeforeClose(work: Promise<unknown>): void {
    this.database.finishBeforeClose(work);
  }

  /** Any failure is a StateUnavailableError (a server's refusal is its cause: isDuplicateKey sees it). */
  private call<T>(what: string, operation: (options: { signal: AbortSignal; maxTimeMS: number }) => Promise<T>): Promise<T> {
    return this.calls.call(what, operation);
  }

  /** The database's clock, which approvals' times go by: every process sharing the database agrees on it. */
  get clock(): { now(): number; offsetMs(): number } {
    return this.database.clock;
  }

  /** Keeps a new pending approval; false (nothing kept) when a pending approval already holds its request_key. */
  async create(doc: ApprovalDoc): Promise<boolean> {
    try {
      await this.call("create approval", (options) => this.collection.insertOne(doc, options));
      return true;
    } catch (error) {
      if (doc.request_key !== undefined && isDuplicateKey(error)) return false;
      throw error;
    }
  }

  /** The approval holding a request_key (pending, unless a process of before 2026-12-07 decided it and left the key). */
  async holding(key: string): Promise<ApprovalDoc | null> {
    return this.call("read approval of a request", (options) => this.collection.findOne({ request_key: key }, options));
  }

  /** Frees a request_key an approval no longer pending still holds; true when this call did. */
  async release(id: string, key: string): Promise<boolean> {
    const result = await this.call("release approval request key", (options) =>
      this.collection.updateOne({ _id: id, request_key: key, status: { $ne: "pending" } }, { $unset: { request_key: "" } }, options),
    );
    return result.modifiedCount === 1;
  }

  /** Takes back a pending approval nobody was told of yet (one over the agent's limit). */
  async withdraw(id: string): Promise<void> {
    await this.call("withdraw approval", (options) => this.collection.deleteOne({ _id: id, status: "pending" }, options));
  }

  /** The owner's pending, unexpired approvals: matched on the index approvals_pending_per_agent. */
  private pendingOf(owner: PendingOwner, now: Date): Filter<ApprovalDoc> {
    return { api: owner.api, issuer: owner.issuer, subject: owner.subject, client_id: owner.client_id, status: "pending", expires_at: { $gt: now } };
  }

  /**
   * The owner's pending, unexpired approvals of exactly this request (action, resource, digest of the bound fields),
   * oldest first, at most `limit` (whatever requirement, and whatever chain of agents, each was asked under).
   */
  async pendingFor(owner: PendingOwner, binding: Pick<Binding, "action" | "resource" | "digest">, now: Date, limit: number): Promise<ApprovalDoc[]> {
    const query: Filter<ApprovalDoc> = {
      ...this.pendingOf(owner, now),
      action: binding.action,
      "resource.type": binding.resource.type,
      "resource.id": binding.resource.id,
      digest: binding.digest,
    };
    return this.call("find pending approvals", (options) => this.collection.find(query, { sort: { created_at: 1, _id: 1 }, limit, ...options }).toArray());
  }

  /** pending → expired now (the same request was asked again under another requirement); the document when this call did it. */
  async supersede(id: string, now: Date): Promise<ApprovalDoc | null> {
    return this.call("supersede approval", (options) =>
      this.collection.findOneAndUpdate(
        { _id: id, status: "pending" },
        { $set: { status: "expired", expires_at: now }, $unset: { request_key: "" } },
        { returnDocument: "after", ...options },
      ),
    );
  }

  /**
   * Claims a reminder of a pending approval last told of at `last` (the document's notified_at, or its created_at
   * when it has none): true for the one call, on any replica, that moved notified_at to `now`.
   */
  async claimReminder(doc: Pick<ApprovalDoc, "_id" | "notified_at">, now: Date): Promise<boolean> {
    const told = doc.notified_at === undefined ? { notified_at: { $exists: false } } : { notified_at: doc.notified_at };
    const result = await this.call("claim approval reminder", (options) =>
      this.collection.updateOne({ _id: doc._id, status: "pending", expires_at: { $gt: now }, ...told }, { $set: { notified_at: now } }, options),
    );
    return result.modifiedCount === 1;
  }

  /** How many pending, unexpired approvals the owner has, counted up to `limit`. */
  async countPending(owner: PendingOwner, now: Date, limit: number): Promise<number> {
    return this.call("count pending approvals", (options) => this.collection.countDocuments(this.pendingOf(owner, now), { limit, ...options }));
  }

  async get(id: string): Promise<ApprovalDoc | null> {
    return this.call("read approval", (options) => this.collection.findOne({ _id: id }, options));
  }

  /** pending → approved or refused, only while pending and unexpired; null when it was not (nothing changed). */
  async decide(id: string, status: "approved" | "refused", decider: Decider, now: Date): Promise<ApprovalDoc | null> {
    return this.call("decide approval", (options) =>
      this.collection.findOneAndUpdate(
        { _id: id, status: "pending", expires_at: { $gt: now } },
        { $set: { status, decided_by: decider }, $unset: { request_key: "" } },
        { returnDocument: "after", ...options },
      ),
    );
  }

  /** approved → consumed by one decision, exactly once across replicas; null when it could not be used. */
  async consume(id: string, decisionId: string, now: Date): Promise<ApprovalDoc | null> {
    return this.call("consume approval", (options) =>
      this.collection.findOneAndUpdate(
        { _id: id, status: "approved", expires_at: { $gt: now } },
        { $set: { status: "consumed", consumed_by: decisionId, consumed_at: now } },
        { returnDocument: "after", ...options },
      ),
    );
  }

  /** Undoes this decision's use (its obligations could not be applied); safe to repeat. */
  async giveBack(id: string, decisionId: string): Promise<boolean> {
    const result = await this.call("give back approval", (options) =>
      this.collection.updateOne(
        { _id: id, status: "consumed", consumed_by: decisionId },
        { $set: { status: "approved" }, $unset: { consumed_by: "", consumed_at: "" } },
        options,
      ),
    );
    return result.modifiedCount === 1;
  }

  /** Marks an approval that ended unused as expired; the document when this call did it (so its event is written once). */
  async markExpired(id: string, now: Date): Promise<ApprovalDoc | null> {
    return this.call("expire approval", (options) =>
      this.collection.findOneAndUpdate(
        { _id: id, status: { $in: ["pending", "approved"] }, expires_at: { $lte: now } },
        { $set: { status: "expired" }, $unset: { request_key: "" } },
        { returnDocument: "after", ...options },
      ),
    );
  }

  /** The ids of approvals that ended unused and are not marked yet (at most `limit`). */
  async endedUnmarked(now: Date, limit: number): Promise<string[]> {
    const docs = await this.call("find ended approvals", (options) =>
      this.collection.find({ status: { $in: ["pending", "approved"] }, expires_at: { $lte: now } }, { projection: { _id: 1 }, limit, ...options }).toArray(),
    );
    return docs.map((doc) => doc._id);
  }

  /** Newest first; a status filter reads the stored status (expired ones may not be marked yet: see statusAt). */
  async list(filter: ListFilter, now: Date): Promise<ApprovalDoc[]> {
    const query: Filter<ApprovalDoc> = {};
    if (filter.issuer !== undefined) query.issuer = filter.issuer;
    if (filter.subject !== undefined) query.subject = filter.subject;
    if (filter.client_id !== undefined) query.client_id = filter.client_id;
    if (filter.status === "expired")
      Object.assign(query, { $or: [{ status: "expired" }, { status: { $in: ["pending", "approved"] }, expires_at: { $lte: now } }] });
    else if (filter.status === "pending" || filter.status === "approved") Object.assign(query, { status: filter.status, expires_at: { $gt: now } });
    else if (filter.status !== undefined) query.status = filter.status;
    return this.call("list approvals", (options) =>
      this.collection.find(query, { sort: { created_at: -1, _id: -1 }, limit: filter.limit, ...options }).toArray(),
    );
  }
}
