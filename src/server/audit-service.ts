// AuditService.Query: the audit trail for tools. Callers authenticate as for Check;
// an API sees its own records, and whatever audit.query_grants adds (docs/audit.md).
import type { DecisionName } from "@verdict/sdk/wire";
import * as grpc from "@grpc/grpc-js";
import { toStruct, type AuditQueryRequestMessage, type AuditQueryResponseMessage, type DecisionRecordMessage } from "@verdict/sdk/wire";
import {
  AuditQueryError,
  AuditStoreUnavailableError,
  pageTokenAfter,
  parseAuditQuery,
  publicRecord,
  type AuditRecord,
  type AuditStore,
  type DecisionRecord,
} from "../audit/index.js";
import type { Logger } from "../observability/index.js";
import { authenticateCall, type CallerRegistry } from "./callers.js";

export const AUDIT_SERVICE_NAME = "verdict.v1.AuditService";

export interface AuditServiceOptions {
  /** Undefined when the audit trail is disabled. */
  store: AuditStore | undefined;
  callers: CallerRegistry;
  /** API name -> other APIs it may read ("*": all). */
  grants: Record<string, string[]>;
  log: Logger;
  now?: () => number;
}

export type QueryHandler = grpc.handleUnaryCall<AuditQueryRequestMessage, AuditQueryResponseMessage>;

export function auditQueryHandler({ store, callers, grants, log, now = Date.now }: AuditServiceOptions): QueryHandler {
  return (call, callback) => {
    const caller = authenticateCall(callers, call, "AuditService/Query", log, callback);
    if (!caller) return;
    if (!store) {
      callback({ code: grpc.status.FAILED_PRECONDITION, details: "the audit trail is disabled in this Verdict's configuration" });
      return;
    }
    const request = call.request;
    let query;
    try {
      query = parseAuditQuery(
        {
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
        },
        now(),
      );
    } catch (error) {
      if (error instanceof AuditQueryError) {
        callback({ code: grpc.status.INVALID_ARGUMENT, details: error.message });
        return;
      }
      throw error;
    }
    const granted = grants[caller.name] ?? [];
    if (!granted.includes("*")) {
      const visible = [caller.name, ...granted];
      const asked = query.apis?.[0];
      if (asked !== undefined && !visible.includes(asked)) {
        callback({ code: grpc.status.PERMISSION_DENIED, details: `API ${caller.name} may not read the records of API ${asked} (see audit.query_grants)` });
        return;
      }
      query.apis = asked !== undefined ? [asked] : visible;
    }
    store.query(query, now()).then(
      ({ records, nextPageToken }) => {
        const page = fitResponse(records, nextPageToken);
        log.info(
          { caller: caller.name, method: "AuditService/Query", filters: Object.keys(request).filter((k) => isSet(request[k as keyof AuditQueryRequestMessage])), returned: page.records.length },
          "audit trail queried",
        );
        callback(null, page);
      },
      (error: unknown) => {
        if (error instanceof AuditStoreUnavailableError) {
          callback({ code: grpc.status.UNAVAILABLE, details: "the audit database is unavailable; try again shortly" });
          return;
        }
        log.error({ err: error, caller: caller.name }, "audit query failed");
        callback({ code: grpc.status.INTERNAL, details: "internal error" });
      },
    );
  };
}

// Responses must fit the server's message limit (256 KiB): a page ends early, with
// a page token, when its records (measured as JSON, which is not smaller than
// their protobuf encoding) would pass this budget. One record always fits a page.
const RESPONSE_BUDGET_BYTES = 192 * 1024;

function fitResponse(records: readonly DecisionRecord[], nextPageToken: string | undefined): AuditQueryResponseMessage {
  const out: DecisionRecordMessage[] = [];
  let bytes = 0;
  for (const [i, record] of records.entries()) {
    const shown = publicRecord(record);
    bytes += Buffer.byteLength(JSON.stringify(shown), "utf8");
    if (out.length > 0 && bytes > RESPONSE_BUDGET_BYTES) {
      return { records: out, next_page_token: pageTokenAfter(records[i - 1] as DecisionRecord) };
    }
    out.push(encodeRecord(shown));
  }
  return { records: out, next_page_token: nextPageToken ?? "" };
}

function isSet(value: unknown): boolean {
  return value !== undefined && value !== null && value !== "" && value !== 0;
}

export function encodeRecord(record: AuditRecord): DecisionRecordMessage {
  return {
    decision_id: record.decision_id,
    time: record.time,
    caller: record.caller,
    subject: record.subject ?? "",
    client_id: record.client_id ?? "",
    client_type: record.client_type ?? "",
    actors: record.actors.map((a) => ({ subject: a.subject, client_id: a.client_id ?? "" })),
    action: record.action,
    resource: { type: record.resource.type, id: record.resource.id, attributes: toStruct(record.resource.attributes) },
    context: toStruct(record.context),
    decision: record.decision,
    reasons: record.reasons,
    challenge: record.challenge
      ? {
          error: record.challenge.error,
          scopes: record.challenge.scopes,
          acr_values: record.challenge.acr_values,
          ...(record.challenge.max_age !== undefined ? { max_age: record.challenge.max_age } : {}),
          description: record.challenge.description,
        }
      : null,
    obligations: record.obligations,
    policy_revision: record.policy_revision,
    shadow: record.shadow
      ? { policy_revision: record.shadow.revision, decision: record.shadow.effect as DecisionName, reasons: record.shadow.reasons, agrees: record.shadow.agrees }
      : null,
    latency_ms: record.latency_ms,
    request_id: record.request_id,
    token_id: record.token.jti ?? "",
    token_sha256: record.token.sha256 ?? "",
    dry_run: record.dry_run,
    issuer: record.issuer ?? "",
    scopes: record.scopes ?? [],
    acr: record.acr ?? "",
    expires_at: record.expires_at,
  };
}
