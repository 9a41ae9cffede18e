// AuditService.Query: the audit trail for tools. Callers authenticate as for Check;
// an API sees its own records, and whatever audit.query_grants adds (docs/audit.md);
// audit events of a kind, to the APIs that hold that kind's grant (apis[].grants).
import {
  AUDIT_SERVICE,
  type AuditQueryRequestMessage,
  type AuditQueryResponseMessage,
  type AuditServiceServer,
  type DecisionRecordMessage,
} from "@verdict/sdk/wire";
import {
  AUDIT_EVENT_KINDS,
  isAuditEvent,
  pageTokenAfter,
  parseAuditQuery,
  publicEntry,
  type AuditEventKind,
  type AuditEventRecord,
  type AuditQuery,
  type AuditStore,
  type TrailEntry,
  type TrailRecord,
} from "../../audit/index.js";
import type { Caller } from "../../decide/index.js";
import { VerdictError } from "../../errors/index.js";
import { encodeChallenge, wireActors } from "../encode.js";
import { unary, type RpcContext } from "./unary.js";

export interface AuditServiceOptions {
  /** Undefined when the audit trail is disabled. */
  store: AuditStore | undefined;
  /** API name -> other APIs it may read ("*": all). */
  grants: Record<string, string[]>;
  now?: () => number;
}

export function auditService(context: RpcContext, { store, grants, now = Date.now }: AuditServiceOptions): AuditServiceServer {
  return {
    query: unary(context, {
      name: "AuditService/Query",
      rpc: `${AUDIT_SERVICE}/Query`,
      validate: (request, caller) => {
        if (!store) throw new VerdictError("audit_disabled", "the audit trail is disabled in this Verdict's configuration");
        return { request, trail: store, query: visibleTo(caller, grants, parseAuditQuery(queryRequest(request), now())) };
      },
      run: async ({ request, trail, query }, caller) => {
        const { records, nextPageToken } = await trail.query(query, now());
        const page = fitResponse(records, nextPageToken);
        context.log.info(
          { caller: caller.name, method: "AuditService/Query", filters: setFilters(request), returned: page.records.length },
          "audit trail queried",
        );
        return page;
      },
      encode: (page) => page,
      answers: { audit_store_unavailable: "the audit database is unavailable; try again shortly" },
    }),
  };
}

function queryRequest(request: AuditQueryRequestMessage) {
  return {
    subject: request.subject,
    clientId: request.client_id,
    action: request.action,
    decision: request.decision,
    reason: request.reason,
    api: request.api,
    since: request.since,
    until: request.until,
    limit: request.limit,
    pageToken: request.page_token,
    kind: request.kind,
    approvalId: request.approval_id,
  };
}

/** The grant (apis[].grants) that lets an API read each kind of audit event. */
const EVENT_GRANTS: Record<AuditEventKind, string> = { suspension: "suspensions", approval: "approvals" };

/** Restricts the query to what the caller may read; refuses an API or a kind of event it asked for and may not read. */
function visibleTo(caller: Caller, grants: Record<string, string[]>, query: AuditQuery): AuditQuery {
  const granted = grants[caller.name] ?? [];
  // Events by their own grant, whatever records of other APIs the caller may read ("*" included).
  const eventKinds = AUDIT_EVENT_KINDS.filter((kind) => caller.grants?.has(EVENT_GRANTS[kind]));
  if (query.kind !== undefined && query.kind !== "decision" && !eventKinds.includes(query.kind)) {
    throw new VerdictError("permission_denied", `API ${caller.name} may not read ${query.kind} events (it needs the ${EVENT_GRANTS[query.kind]} grant)`);
  }
  const asked = query.apis?.[0];
  if (granted.includes("*")) return asked !== undefined ? query : { ...query, eventKinds };
  const visible = [caller.name, ...granted];
  if (asked !== undefined && !visible.includes(asked)) {
    throw new VerdictError("permission_denied", `API ${caller.name} may not read the records of API ${asked} (see audit.query_grants)`);
  }
  return asked !== undefined ? { ...query, apis: [asked] } : { ...query, apis: visible, eventKinds };
}

function setFilters(request: AuditQueryRequestMessage): string[] {
  return Object.entries(request)
    .filter(([, value]) => value !== undefined && value !== null && value !== "" && value !== 0)
    .map(([key]) => key);
}

// Responses must fit the server's message limit (256 KiB): a page ends early, with
// a page token, when its records (measured as JSON, which is not smaller than
// their protobuf encoding) would pass this budget. One record always fits a page.
const RESPONSE_BUDGET_BYTES = 192 * 1024;

function fitResponse(records: readonly TrailRecord[], nextPageToken: string | undefined): AuditQueryResponseMessage {
  const out: DecisionRecordMessage[] = [];
  let bytes = 0;
  for (const [i, record] of records.entries()) {
    const shown = publicEntry(record);
    bytes += Buffer.byteLength(JSON.stringify(shown), "utf8");
    const previous = records[i - 1];
    if (previous && bytes > RESPONSE_BUDGET_BYTES) return { records: out, next_page_token: pageTokenAfter(previous) };
    out.push(encodeRecord(shown));
  }
  return { records: out, next_page_token: nextPageToken ?? "" };
}

/** A record as queries return it → the wire's DecisionRecord (absent strings are ""). */
export function encodeRecord(record: TrailEntry): DecisionRecordMessage {
  if (isAuditEvent(record)) return encodeEvent(record);
  return {
    kind: "decision",
    event_action: "",
    target: {},
    actor_via: "",
    decision_id: record.decision_id,
    time: record.time,
    caller: record.caller,
    subject: record.subject ?? "",
    client_id: record.client_id ?? "",
    client_type: record.client_type ?? "",
    actors: wireActors(record.actors),
    action: record.action,
    resource: record.resource,
    context: record.context,
    decision: record.decision,
    reasons: record.reasons,
    ...(record.challenge ? { challenge: encodeChallenge(record.challenge) } : {}),
    obligations: record.obligations,
    policy_revision: record.policy_revision,
    ...(record.shadow
      ? { shadow: { policy_revision: record.shadow.revision, decision: record.shadow.effect, reasons: record.shadow.reasons, agrees: record.shadow.agrees } }
      : {}),
    latency_ms: record.latency_ms,
    request_id: record.request_id,
    token_id: record.token.jti ?? "",
    token_sha256: record.token.sha256 ?? "",
    dry_run: record.dry_run,
    issuer: record.issuer ?? "",
    scopes: record.scopes ?? [],
    acr: record.acr ?? "",
    expires_at: record.expires_at,
    count: record.count ?? 0,
    last_time: record.last_time ?? "",
    distinct_tokens: record.distinct_tokens ?? 0,
  };
}

/** An audit event in the wire's DecisionRecord (see the proto's comment on the message). */
function encodeEvent(event: AuditEventRecord): DecisionRecordMessage {
  const context = {
    actor: { ...event.actor },
    ...(event.reason !== undefined ? { reason: event.reason } : {}),
    ...(event.decision_id !== undefined ? { decision_id: event.decision_id } : {}),
    ...(event.details !== undefined ? { details: event.details } : {}),
  };
  return {
    decision_id: event.event_id,
    time: event.time,
    caller: { api: event.actor.api ?? "", audience: "" },
    subject: event.subject ?? "",
    client_id: event.client_id ?? "",
    client_type: "",
    actors: [],
    action: event.action,
    resource: { type: event.event, id: "", attributes: {} },
    context,
    decision: "EVENT",
    reasons: [],
    obligations: [],
    policy_revision: "",
    latency_ms: 0,
    request_id: "",
    token_id: "",
    token_sha256: "",
    dry_run: false,
    issuer: event.issuer ?? "",
    scopes: [],
    acr: "",
    expires_at: event.expires_at,
    count: event.count ?? 0,
    last_time: event.last_time ?? "",
    distinct_tokens: 0,
    kind: event.event,
    event_action: event.action,
    target: { ...event.target },
    actor_via: event.actor.via,
  };
}
