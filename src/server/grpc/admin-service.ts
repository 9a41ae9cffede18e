// AdminService: suspend, resume and list suspensions (docs/suspensions.md), for
// APIs holding the "suspensions" grant (apis[].grants). A duplicate suspension or a
// resume of nothing is an answer (status, an empty list), never an error.
import {
  ADMIN_SERVICE,
  type AdminServiceServer,
  type ResumeRequestMessage,
  type SuspendRequestMessage,
  type SuspensionMessage,
  type SuspensionTargetMessage,
} from "@verdict/sdk/wire";
import type { AuditEventActor } from "../../audit/index.js";
import { SUSPENSION_KINDS, type SuspensionKind } from "../../contract/index.js";
import type { Caller } from "../../decide/index.js";
import { VerdictError } from "../../errors/index.js";
import { MAX_SUSPENSION_SECONDS, parseTarget, type SuspensionRecord, type Suspensions } from "../../suspensions/index.js";
import { unary, type RpcContext } from "./unary.js";

const GRANT = "suspensions";
const DEFAULT_LIMIT = 100;
const MAX_LIMIT = 1_000;
const MAX_TEXT = 1_000;
// eslint-disable-next-line no-control-regex -- it looks for control characters, to refuse them
const CONTROL = /[\u0000-\u0008\u000b-\u001f\u007f]/;

export function adminService(context: RpcContext, suspensions: Suspensions): AdminServiceServer {
  return {
    suspend: unary(context, {
      name: "AdminService/Suspend",
      rpc: `${ADMIN_SERVICE}/Suspend`,
      validate: (request: SuspendRequestMessage, caller) => {
        granted(caller);
        const seconds = request.duration_seconds;
        if (!Number.isInteger(seconds) || seconds < 0 || seconds > MAX_SUSPENSION_SECONDS) {
          throw new VerdictError("invalid_argument", `duration_seconds must be 0 (until resumed) or a whole number up to ${MAX_SUSPENSION_SECONDS}`);
        }
        const reason = text(request.reason, "reason");
        if (reason === "") throw new VerdictError("invalid_argument", "a suspension needs a reason (it goes into the audit trail)");
        return { target: parseTarget(target(request.target)), reason, seconds, by: actor(caller, request.by) };
      },
      run: ({ target, reason, seconds, by }) => suspensions.add({ target, reason, by, source: "admin", ...(seconds > 0 ? { seconds } : {}) }),
      encode: ({ status, suspension }) => ({ status, suspension: encodeSuspension(suspension) }),
      answers: { state_unavailable: "the suspensions database did not answer; the change may have been made: make the same request again (it is made once)" },
    }),
    resume: unary(context, {
      name: "AdminService/Resume",
      rpc: `${ADMIN_SERVICE}/Resume`,
      validate: (request: ResumeRequestMessage, caller) => {
        granted(caller);
        const id = text(request.id, "id");
        const hasTarget = request.target !== undefined && request.target.kind !== "";
        if ((id === "") === !hasTarget) throw new VerdictError("invalid_argument", "resume needs a target or an id (one of the two)");
        const common = { by: actor(caller, request.by), reason: text(request.reason, "reason") };
        return id !== "" ? { id, ...common } : { target: parseTarget(target(request.target)), ...common };
      },
      run: (request) => suspensions.remove(request),
      encode: (resumed) => ({ resumed: resumed.map(encodeSuspension) }),
      answers: { state_unavailable: "the suspensions database did not answer; the change may have been made: make the same request again (it is made once)" },
    }),
    list: unary(context, {
      name: "AdminService/List",
      rpc: `${ADMIN_SERVICE}/List`,
      validate: (request, caller) => {
        granted(caller);
        if (request.kind !== "" && !SUSPENSION_KINDS.includes(request.kind as SuspensionKind)) {
          throw new VerdictError("invalid_argument", `kind must be one of ${SUSPENSION_KINDS.join(", ")} (or empty: all)`);
        }
        if (!Number.isInteger(request.limit) || request.limit < 0 || request.limit > MAX_LIMIT) {
          throw new VerdictError("invalid_argument", `limit must be between 1 and ${MAX_LIMIT} (0: ${DEFAULT_LIMIT})`);
        }
        return { ...(request.kind !== "" ? { kind: request.kind as SuspensionKind } : {}), limit: request.limit || DEFAULT_LIMIT };
      },
      run: (options) => suspensions.list(options),
      encode: (list) => ({ suspensions: list.map(encodeSuspension) }),
      answers: { state_unavailable: "the suspensions database did not answer; try again" },
    }),
  };
}

function granted(caller: Caller): void {
  if (!caller.grants?.has(GRANT)) {
    throw new VerdictError("permission_denied", `API ${caller.name} may not manage suspensions (it needs the ${GRANT} grant in apis[].grants)`);
  }
}

/** Free text from the operator: bounded, without control characters (newlines allowed). */
function text(value: string, field: string): string {
  const trimmed = value.trim();
  if (trimmed.length > MAX_TEXT || CONTROL.test(trimmed))
    throw new VerdictError("invalid_argument", `${field} must be at most ${MAX_TEXT} characters, without control characters`);
  return trimmed;
}

function actor(caller: Caller, by: string): AuditEventActor {
  const person = text(by, "by");
  return { via: "grpc", api: caller.name, ...(person !== "" ? { subject: person } : {}) };
}

function target(message: SuspensionTargetMessage | undefined) {
  if (!message) throw new VerdictError("invalid_argument", "a target is required");
  return {
    kind: message.kind,
    issuer: message.issuer,
    subject: message.subject,
    client_id: message.client_id,
    token_id: message.token_id,
    session_id: message.session_id,
  };
}

export function encodeSuspension(record: SuspensionRecord): SuspensionMessage {
  const t = record.target;
  return {
    id: record._id,
    target: {
      kind: t.kind,
      issuer: t.issuer ?? "",
      subject: t.subject ?? "",
      client_id: t.client_id ?? "",
      token_id: t.token_id ?? "",
      session_id: t.session_id ?? "",
    },
    source: record.source,
    reason: record.reason,
    since: record.since.toISOString(),
    until: record.expires_at?.toISOString() ?? "",
    issued_before: record.issued_before?.toISOString() ?? "",
    by_via: record.by.via,
    by_api: record.by.api ?? "",
    by_subject: record.by.subject ?? "",
  };
}
