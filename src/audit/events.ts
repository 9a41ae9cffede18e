// Audit events: what people and systems did to Verdict's own state (a suspension, an
// approval), as opposed to the decisions it made. They go through the same trail as
// decisions (buffer, spill file, batched writer) into the same `decisions`
// collection, as documents with `kind: "event"`; a document without `kind` is a
// decision. Never a token: who did it is named by subject, issuer, client_id and acr.
import type { JsonObject } from "@verdict/sdk/wire";

export type AuditEventKind = "suspension" | "approval";
export const AUDIT_EVENT_KINDS: readonly AuditEventKind[] = ["suspension", "approval"];

/** Through which door an event came. */
export type AuditEventVia = "grpc" | "cli" | "http" | "ssf" | "policy" | "system";

export interface AuditEventActor {
  via: AuditEventVia;
  api?: string;
  issuer?: string;
  subject?: string;
  client_id?: string;
  acr?: string;
}

export interface AuditEvent {
  kind: AuditEventKind;
  /** What happened, e.g. "suspended", "resumed", "requested", "approved", "refused", "consumed", "expired". */
  action: string;
  /** Who did it. `via` says through which door. Never a token: subject/issuer/client_id/acr only. */
  actor: AuditEventActor;
  /** What it is about: plain strings (e.g. { client_id: "agent-7" } or { approval_id: "..." }). */
  target: Record<string, string>;
  reason?: string;
  /** The decision it relates to (the decision that asked for or consumed an approval, a policy's suspend obligation). */
  decision_id?: string;
  details?: Record<string, unknown>;
  /**
   * A refused attempt someone may repeat at machine speed: the same event again
   * within the audit's refusal window is counted into one record (repeats.ts).
   */
  counted?: boolean;
}

/**
 * An event as the `decisions` collection keeps it. The target's subject, client_id
 * and issuer are also kept at the top, where decisions keep theirs, so that the
 * trail's filters (--sub, --agent) and indexes find events about a principal beside
 * that principal's decisions.
 */
export interface EventRecord {
  _id: string;
  kind: "event";
  event: AuditEventKind;
  time: Date;
  /** When retention ends (the same retention as decisions). */
  expires_at: Date;
  action: string;
  actor: AuditEventActor;
  target: Record<string, string>;
  reason?: string;
  decision_id?: string;
  details?: JsonObject;
  /** A record standing for repeats of a counted event (repeats.ts): how many, from `time` to `last_time`. */
  count?: number;
  last_time?: Date;
  subject?: string;
  client_id?: string;
  issuer?: string;
}

/** An event as queries return it (CLI --json, AuditService): times in RFC 3339. */
export interface AuditEventRecord extends Omit<EventRecord, "_id" | "time" | "expires_at" | "last_time"> {
  event_id: string;
  time: string;
  expires_at: string;
  last_time?: string;
}

export function buildEventRecord(event: AuditEvent, { id, now, retentionMs }: { id: string; now: number; retentionMs: number }): EventRecord {
  const target = { ...event.target };
  return {
    _id: id,
    kind: "event",
    event: event.kind,
    time: new Date(now),
    expires_at: new Date(now + retentionMs),
    action: event.action,
    actor: { ...event.actor },
    target,
    ...(event.reason !== undefined ? { reason: event.reason } : {}),
    ...(event.decision_id !== undefined ? { decision_id: event.decision_id } : {}),
    // Plain JSON, as the spill file and the database both keep it.
    ...(event.details !== undefined ? { details: JSON.parse(JSON.stringify(event.details)) as JsonObject } : {}),
    ...(target["subject"] !== undefined ? { subject: target["subject"] } : {}),
    ...(target["client_id"] !== undefined ? { client_id: target["client_id"] } : {}),
    ...(target["issuer"] !== undefined ? { issuer: target["issuer"] } : {}),
  };
}

export function publicEvent(doc: EventRecord): AuditEventRecord {
  const { _id, time, expires_at, last_time, ...fields } = doc;
  return {
    event_id: _id,
    time: time.toISOString(),
    expires_at: expires_at.toISOString(),
    ...fields,
    ...(last_time !== undefined ? { last_time: last_time.toISOString() } : {}),
  };
}
