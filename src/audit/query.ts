// Queries over the trail: filters by subject, agent, action, decision, reason, API
// and time, newest first, in pages. Every query is shaped for one of INDEXES (an
// equality on one field, then the index's own order on time): docs/audit.md shows
// the plan. Caller values are only ever compared as strings, never read as operators.
import type { Document } from "mongodb";
import { VerdictError } from "../errors/index.js";
import { AUDIT_EVENT_KINDS, type AuditEventKind } from "./events.js";
import { RECORD_DECISIONS, type RecordDecision } from "./record.js";

/** A query that does not make sense; the message says what to change. */
export class AuditQueryError extends VerdictError {
  constructor(message: string) {
    super("audit_query_invalid", message);
  }
}

/** What a person or a tool asks for (CLI flags, AuditService fields); every field optional. */
export interface AuditQueryRequest {
  subject?: string;
  /** The agent: the token's client_id. */
  clientId?: string;
  action?: string;
  decision?: string;
  reason?: string;
  api?: string;
  /** A duration back from now ("90s", "15m", "1h", "7d") or an RFC 3339 time. */
  since?: string;
  until?: string;
  limit?: number;
  pageToken?: string;
  /** decision, or an event kind (suspension, approval); unset: both. */
  kind?: string;
  /** The story of one approval: its events, oldest first. */
  approvalId?: string;
}

/** Which records a query returns: decisions, or the events of one kind. */
export type RecordKind = "decision" | AuditEventKind;
export const RECORD_KINDS: readonly RecordKind[] = ["decision", ...AUDIT_EVENT_KINDS];

export interface AuditQuery {
  subject?: string;
  clientId?: string;
  action?: string;
  decision?: RecordDecision;
  reason?: string;
  /** Only decisions of these APIs; undefined: every API. */
  apis?: string[];
  /** Decisions only, or events of one kind only; undefined: both. */
  kind?: RecordKind;
  /** Only events of these kinds (with `apis`: what a caller may see besides its APIs' decisions); undefined: every kind. */
  eventKinds?: AuditEventKind[];
  /** Only the events of this approval, oldest first. */
  approvalId?: string;
  since?: Date;
  until?: Date;
  limit: number;
  /** Continue after this record (from a page token). */
  after?: { time: Date; id: string };
}

export const DEFAULT_LIMIT = 100;
export const MAX_LIMIT = 1_000;

const SORT = { time: -1, _id: -1 } as const;
/** A story (one approval's events) reads oldest first. */
const STORY_SORT = { time: 1, _id: 1 } as const;

/**
 * The query indexes of the `decisions` collection (store.ts adds the TTL index).
 * Each query's equality field leads, then the sort (time, _id): an index scan in
 * order, no in-memory sort.
 */
export const QUERY_INDEXES: readonly { name: string; key: Document; partialFilterExpression?: Document }[] = [
  { name: "audit_time", key: SORT },
  { name: "audit_subject_time", key: { subject: 1, ...SORT } },
  { name: "audit_client_id_time", key: { client_id: 1, ...SORT } },
  { name: "audit_action_time", key: { action: 1, ...SORT } },
  { name: "audit_decision_time", key: { decision: 1, ...SORT } },
  { name: "audit_reason_time", key: { "reasons.code": 1, ...SORT } },
  { name: "audit_api_time", key: { "caller.api": 1, ...SORT } },
  // Events only (partial): a query for one kind of event does not scan decisions.
  { name: "audit_event_time", key: { event: 1, ...SORT }, partialFilterExpression: { kind: "event" } },
  { name: "audit_approval_story", key: { "target.approval_id": 1, ...STORY_SORT }, partialFilterExpression: { kind: "event" } },
];

// eslint-disable-next-line no-control-regex -- it looks for control characters, to refuse them
const CONTROL = /[\u0000-\u001f\u007f]/;
const DURATION = /^(\d{1,9})(s|m|h|d)$/;
const RFC3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2})$/;
const UNIT_MS = { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;

/** Validates a request into a query; `now` is milliseconds since the epoch. */
export function parseAuditQuery(request: AuditQueryRequest, now: number): AuditQuery {
  const text = (value: string | undefined, name: string) => {
    if (value === undefined || value === "") return undefined;
    if (value.length > 512 || CONTROL.test(value)) throw new AuditQueryError(`${name} must be at most 512 characters, without control characters`);
    return value;
  };
  const query: AuditQuery = { limit: DEFAULT_LIMIT };
  const subject = text(request.subject, "subject");
  const clientId = text(request.clientId, "agent (client_id)");
  const action = text(request.action, "action");
  const reason = text(request.reason, "reason");
  const api = text(request.api, "api");
  if (subject !== undefined) query.subject = subject;
  if (clientId !== undefined) query.clientId = clientId;
  if (action !== undefined) query.action = action;
  if (reason !== undefined) query.reason = reason;
  // Events have no calling API: a query for one API's records is a query for its decisions.
  if (api !== undefined) Object.assign(query, { apis: [api], eventKinds: [] });
  const decision = text(request.decision, "decision");
  if (decision !== undefined) {
    const upper = decision.toUpperCase() as RecordDecision;
    if (!RECORD_DECISIONS.includes(upper)) throw new AuditQueryError(`decision must be one of ${RECORD_DECISIONS.join(", ")}`);
    query.decision = upper;
  }
  const since = text(request.since, "since");
  const until = text(request.until, "until");
  if (since !== undefined) query.since = parseTime(since, now, "since");
  if (until !== undefined) query.until = parseTime(until, now, "until");
  if (query.since && query.until && query.since >= query.until) throw new AuditQueryError("since must be before until");
  if (request.limit !== undefined && request.limit !== 0) {
    if (!Number.isInteger(request.limit) || request.limit < 1 || request.limit > MAX_LIMIT) {
      throw new AuditQueryError(`limit must be a whole number from 1 to ${MAX_LIMIT}`);
    }
    query.limit = request.limit;
  }
  const kind = text(request.kind, "kind");
  if (kind !== undefined) {
    if (!RECORD_KINDS.includes(kind as RecordKind)) throw new AuditQueryError(`kind must be one of ${RECORD_KINDS.join(", ")}`);
    query.kind = kind as RecordKind;
  }
  const approvalId = text(request.approvalId, "approval id");
  if (approvalId !== undefined) {
    if (query.kind !== undefined && query.kind !== "approval")
      throw new AuditQueryError("an approval's story holds approval events only: drop kind or make it approval");
    Object.assign(query, { approvalId, kind: "approval" });
  }
  const token = text(request.pageToken, "page token");
  if (token !== undefined) query.after = parsePageToken(token);
  return query;
}

/** "90s", "15m", "1h", "7d" back from `now`, or an RFC 3339 time. */
export function parseTime(text: string, now: number, name: string): Date {
  const duration = DURATION.exec(text);
  if (duration) return new Date(now - Number(duration[1]) * UNIT_MS[duration[2] as keyof typeof UNIT_MS]);
  if (RFC3339.test(text)) {
    const time = Date.parse(text);
    if (!Number.isNaN(time)) return new Date(time);
  }
  throw new AuditQueryError(`${name} must be a duration back from now (90s, 15m, 1h, 7d) or an RFC 3339 time (2026-11-24T12:00:00Z)`);
}

/** The find() that answers a query: filter, sort and how many to read (one more than a page, to know if there is a next). */
export function findOf(query: AuditQuery, now: number): { filter: Document; sort: typeof SORT | typeof STORY_SORT; limit: number } {
  const filter: Document = {};
  const story = query.approvalId !== undefined;
  if (story) filter["target.approval_id"] = query.approvalId;
  if (query.subject !== undefined) filter["subject"] = query.subject;
  if (query.clientId !== undefined) filter["client_id"] = query.clientId;
  if (query.action !== undefined) filter["action"] = query.action;
  if (query.decision !== undefined) filter["decision"] = query.decision;
  if (query.reason !== undefined) filter["reasons.code"] = query.reason;
  const clauses: Document[] = [];
  const apiFilter = query.apis === undefined ? undefined : query.apis.length === 1 ? query.apis[0] : { $in: query.apis };
  // Decisions only (asked for, or the only kind a caller may see): caller.api is a plain equality, which its index answers in order.
  if (query.kind === "decision" || (query.kind === undefined && query.eventKinds?.length === 0)) {
    filter["kind"] = { $exists: false };
    if (apiFilter !== undefined) filter["caller.api"] = apiFilter;
  } else if (query.kind !== undefined) {
    filter["kind"] = "event";
    filter["event"] = query.kind;
  } else if (apiFilter !== undefined || query.eventKinds !== undefined) {
    // Both kinds, each restricted: the caller's APIs' decisions, and the events it may see.
    const events: Document = { kind: "event", ...(query.eventKinds !== undefined ? { event: { $in: query.eventKinds } } : {}) };
    const decisions: Document = { kind: { $exists: false }, ...(apiFilter !== undefined ? { "caller.api": apiFilter } : {}) };
    clauses.push({ $or: query.eventKinds?.length === 0 ? [decisions] : [decisions, events] });
  }
  const time: Document = {};
  if (query.since) time["$gte"] = query.since;
  if (query.until) time["$lt"] = query.until;
  if (query.after && story) {
    // Oldest first: (time, _id) > (after.time, after.id).
    time["$gte"] = query.after.time;
    filter["$or"] = [{ time: { $gt: query.after.time } }, { _id: { $gt: query.after.id } }];
  } else if (query.after) {
    // (time, _id) < (after.time, after.id): the index bound is time <= after.time;
    // the $or leaves out the records of that same millisecond already returned.
    time["$lte"] = query.after.time;
    filter["$or"] = [{ time: { $lt: query.after.time } }, { _id: { $lt: query.after.id } }];
  }
  if (Object.keys(time).length > 0) filter["time"] = time;
  if (clauses.length > 0) filter["$and"] = clauses;
  // Retention: TTL deletion is lazy on MongoDB and absent on some servers.
  filter["expires_at"] = { $gt: new Date(now) };
  return { filter, sort: story ? STORY_SORT : SORT, limit: query.limit + 1 };
}

export function pageTokenAfter(record: { _id: string; time: Date }): string {
  return Buffer.from(JSON.stringify({ t: record.time.getTime(), id: record._id }), "utf8").toString("base64url");
}

function parsePageToken(token: string): { time: Date; id: string } {
  try {
    const value = JSON.parse(Buffer.from(token, "base64url").toString("utf8")) as { t?: unknown; id?: unknown };
    if (typeof value.t === "number" && Number.isFinite(value.t) && typeof value.id === "string" && value.id.length <= 128) {
      return { time: new Date(value.t), id: value.id };
    }
  } catch {
    // fall through
  }
  throw new AuditQueryError("page token is not one this service gave out");
}
