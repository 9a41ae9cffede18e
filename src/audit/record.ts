// One decision as the audit trail keeps it: the stored document (snake_case, keys
// of caller data escaped, masked), the form queries return, and the spill file's
// line format. A record never holds the token: only its jti and SHA-256.
import { reason, type JsonObject } from "@verdict/sdk/wire";
import type { AppliedObligation } from "../contract/index.js";
import type { Challenge, DecisionEvent, DecisionName, DecisionResult } from "../decide/index.js";
import { VerdictError } from "../errors/index.js";
import { actorsOf, sha256Hex, type ActorEntry } from "../token/index.js";
import { AUDIT_EVENT_KINDS, publicEvent, type AuditEventRecord, type EventRecord } from "./events.js";
import { unescapeObject } from "./keys.js";
import { redactObject, redactResourceId, redactText, type MaskRules } from "./mask.js";

/** ERROR: the Check ended in an internal error; the caller got gRPC INTERNAL and no decision. */
export type RecordDecision = DecisionName | "ERROR";
export const RECORD_DECISIONS: readonly RecordDecision[] = ["ALLOW", "DENY", "STEP_UP", "ERROR"];

export interface RecordReason {
  code: string;
  message: string;
}

export type RecordActor = ActorEntry;

/** The decision's challenge, as the response had it. */
export type RecordChallenge = Challenge;

/** What was enforced, as the response had it (type-specific details included). */
export type RecordObligation = AppliedObligation;

export interface RecordShadow {
  revision: string;
  /** The candidate's answer before obligations. */
  effect: DecisionName;
  reasons: RecordReason[];
  /** Whether it said the same as the active policy (effect, reason codes, obligations). */
  agrees: boolean;
}

interface RecordFields {
  caller: { api: string; audience: string };
  /** Absent when the token did not verify (nothing in it can be believed). */
  subject?: string;
  client_id?: string;
  client_type?: string;
  issuer?: string;
  scopes?: string[];
  acr?: string;
  /** The RFC 8693 act chain, outermost (current) actor first. */
  actors: RecordActor[];
  action: string;
  decision: RecordDecision;
  reasons: RecordReason[];
  challenge?: RecordChallenge;
  obligations: RecordObligation[];
  policy_revision: string;
  /** For a DENY policy_error: which rule's output did not fit (or the entry point that failed) and why. */
  policy_error?: { rule: string; kind: string; message: string };
  shadow?: RecordShadow;
  latency_ms: number;
  request_id: string;
  /** jti of a verified token; sha256 of the token as sent (absent when none was sent). */
  token: { jti?: string; sha256?: string };
  dry_run: boolean;
  /** A record of refused tokens (refusals.ts): how many refusals it stands for, and how many distinct tokens when they were counted together. */
  count?: number;
  distinct_tokens?: number;
}

/** The document in the `decisions` collection. Context and attribute keys are escaped (keys.ts). */
export interface DecisionRecord extends RecordFields {
  /** The decision id, so that writing a record twice (a replay) keeps one. */
  _id: string;
  time: Date;
  /** A record of refused tokens: when the last of them was. */
  last_time?: Date;
  /** When retention ends; a TTL index deletes the record (queries also skip it). */
  expires_at: Date;
  resource: { type: string; id: string; attributes: JsonObject };
  context: JsonObject;
}

/** A record as queries return it (CLI --json, AuditService): keys as sent, times in RFC 3339. */
export interface AuditRecord extends RecordFields {
  decision_id: string;
  time: string;
  last_time?: string;
  expires_at: string;
  resource: { type: string; id: string; attributes: JsonObject };
  context: JsonObject;
}

export interface BuildOptions {
  /** The masking rules of the policy revision that decided; undefined when they are invalid (then nothing caller-supplied is kept). */
  masks: MaskRules | undefined;
  retentionMs: number;
}

export function buildRecord(event: DecisionEvent, { masks, retentionMs }: BuildOptions): DecisionRecord {
  const { input, result } = event;
  const principal = event.principal ?? result?.principal;
  const sha256 = event.tokenHash ?? (input.token !== "" ? sha256Hex(input.token) : undefined);
  const time = new Date(event.startedAt);
  return {
    _id: event.decisionId,
    time,
    expires_at: new Date(event.startedAt + retentionMs),
    caller: { api: input.caller.name, audience: input.caller.audience },
    ...(principal
      ? {
          subject: principal.subject,
          client_id: principal.clientId,
          client_type: principal.clientType,
          issuer: principal.issuer,
          scopes: principal.scopes,
          ...(principal.acr !== undefined ? { acr: principal.acr } : {}),
        }
      : {}),
    actors: principal ? actorsOf(principal) : [],
    action: input.action,
    resource: {
      type: input.resource.type,
      id: masks ? redactResourceId(input.resource.id, masks) : "",
      attributes: masks ? redactObject(input.resource.attributes, masks.attributes, masks.detectCardNumbers) : {},
    },
    context: masks ? redactObject(input.context, masks.context, masks.detectCardNumbers) : {},
    decision: result?.decision ?? "ERROR",
    reasons: result ? result.reasons.map((r) => ({ code: r.code, message: r.message })) : [reason(event.failure ?? "internal_error")],
    ...(result?.challenge ? { challenge: { ...result.challenge } } : {}),
    obligations: (result?.obligations ?? []).map((o) => ({ ...o })),
    policy_revision: result?.policyRevision ?? event.policy.revision,
    ...policyErrorPart(result),
    ...shadowPart(result),
    latency_ms: Math.round(event.latencyMs * 1000) / 1000,
    request_id: redactText(input.requestId, masks?.detectCardNumbers ?? true),
    token: { ...(principal?.tokenId !== undefined ? { jti: principal.tokenId } : {}), ...(sha256 !== undefined ? { sha256 } : {}) },
    dry_run: input.dryRun,
  };
}

/** Why the policy failed, as decide/denials.ts put it in explain (the rule or entry point, never the input). */
function policyErrorPart(result: DecisionResult | undefined): { policy_error?: { rule: string; kind: string; message: string } } {
  const hit = result?.explain.find((h) => h.kind === "policy_error");
  return hit ? { policy_error: { rule: hit.rule, kind: hit.code, message: hit.message } } : {};
}

/** What the shadow bundle said, when it answered in time (shadow evaluation). */
function shadowPart(result: DecisionResult | undefined): { shadow?: RecordShadow } {
  const shadow = result?.shadow;
  if (!shadow) return {};
  return {
    shadow: {
      revision: shadow.revision,
      effect: shadow.effect,
      reasons: shadow.reasons.map((r) => ({ code: r.code, message: r.message })),
      agrees: shadow.agrees,
    },
  };
}

export function publicRecord(doc: DecisionRecord): AuditRecord {
  const { _id, time, last_time, expires_at, resource, context, ...fields } = doc;
  return {
    decision_id: _id,
    time: time.toISOString(),
    ...(last_time ? { last_time: last_time.toISOString() } : {}),
    expires_at: expires_at.toISOString(),
    ...fields,
    resource: { type: resource.type, id: resource.id, attributes: unescapeObject(resource.attributes ?? {}) },
    context: unescapeObject(context ?? {}),
  };
}

/** What the trail keeps: a decision, or an event (events.ts). */
export type TrailRecord = DecisionRecord | EventRecord;

/** A record of either kind as queries return it. */
export type TrailEntry = AuditRecord | AuditEventRecord;

export function isEventRecord(doc: TrailRecord): doc is EventRecord {
  return "kind" in doc && doc.kind === "event";
}

export function isAuditEvent(entry: TrailEntry): entry is AuditEventRecord {
  return "kind" in entry && entry.kind === "event";
}

/** A stored document of either kind as queries return it. */
export function publicEntry(doc: TrailRecord): TrailEntry {
  return isEventRecord(doc) ? publicEvent(doc) : publicRecord(doc);
}

/** One line of a spill file: the stored document as JSON (dates as RFC 3339). */
export function toSpillLine(doc: TrailRecord): string {
  return JSON.stringify(doc) + "\n";
}

/** Parses a spill file line back into the stored document; throws on anything else. */
export function fromSpillLine(line: string): TrailRecord {
  const value = JSON.parse(line) as Record<string, unknown>;
  if (typeof value !== "object" || value === null || typeof value["_id"] !== "string") throw new VerdictError("spill_record_invalid", "not an audit record");
  const event = value["kind"] === "event";
  if (event ? !AUDIT_EVENT_KINDS.includes(value["event"] as never) || typeof value["action"] !== "string" : typeof value["decision"] !== "string") {
    throw new VerdictError("spill_record_invalid", event ? "not an audit event" : "not a decision record");
  }
  const time = new Date(value["time"] as string);
  const expiresAt = new Date(value["expires_at"] as string);
  const lastTime = typeof value["last_time"] === "string" ? new Date(value["last_time"]) : undefined;
  if (Number.isNaN(time.getTime()) || Number.isNaN(expiresAt.getTime()) || (lastTime && Number.isNaN(lastTime.getTime())))
    throw new VerdictError("spill_record_invalid", "an audit record without valid times");
  return { ...(value as unknown as TrailRecord), time, expires_at: expiresAt, ...(lastTime ? { last_time: lastTime } : {}) };
}
