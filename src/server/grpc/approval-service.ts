// ApprovalService: an API with the "approvals" grant (apis[].grants) lists
// approvals and passes on its users' approve or refuse, each with the person's own
// token (docs/approvals.md).
import { APPROVAL_SERVICE, type ApprovalMessage, type ApprovalServiceServer, type DecideApprovalRequestMessage } from "@verdict/sdk/wire";
import { APPROVAL_STATUSES, checkedApprovalId, type Approvals, type ApprovalStatus, type ApprovalView } from "../../approvals/index.js";
import type { Caller } from "../../decide/index.js";
import { VerdictError } from "../../errors/index.js";
import { wireActors } from "../encode.js";
import { unary, type RpcContext } from "./unary.js";

const DEFAULT_LIMIT = 50;
const MAX_LIMIT = 500;
const MAX_FILTER = 512;

function granted(caller: Caller): void {
  if (!caller.grants?.has("approvals"))
    throw new VerdictError("permission_denied", `API ${caller.name} may not call ApprovalService (it needs the approvals grant, apis[].grants)`);
}

function filter(value: string | undefined, name: string): string | undefined {
  if (value === undefined || value === "") return undefined;
  if (value.length > MAX_FILTER) throw new VerdictError("invalid_argument", `${name} must be at most ${MAX_FILTER} characters`);
  return value;
}

export function encodeApproval(view: ApprovalView): ApprovalMessage {
  const { decided_by: decided, ...rest } = view;
  return {
    ...rest,
    actors: wireActors(view.actors),
    resource: { ...view.resource, attributes: {} },
    consumed_by_decision: view.consumed_by_decision ?? "",
    ...(decided
      ? {
          decided_by: {
            issuer: decided.issuer,
            subject: decided.subject,
            client_id: decided.client_id ?? "",
            acr: decided.acr ?? "",
            via: decided.via,
            at: decided.at,
            reason: decided.reason ?? "",
          },
        }
      : {}),
  };
}

export function approvalService(context: RpcContext, approvals: Approvals): ApprovalServiceServer {
  const decide = (verdict: "approve" | "refuse") =>
    unary(context, {
      name: `ApprovalService/${verdict === "approve" ? "Approve" : "Refuse"}`,
      rpc: `${APPROVAL_SERVICE}/${verdict === "approve" ? "Approve" : "Refuse"}`,
      validate: (request: DecideApprovalRequestMessage, caller: Caller) => {
        granted(caller);
        return { approvalId: checkedApprovalId(request.approval_id ?? ""), token: request.token ?? "", reason: request.reason ?? "", api: caller.name };
      },
      run: (input) => approvals.decide({ ...input, verdict, via: "grpc", ...(input.reason === "" ? { reason: undefined } : {}) }),
      encode: encodeApproval,
      logFields: (input) => ({ approval: input.approvalId }),
    });
  return {
    list: unary(context, {
      name: "ApprovalService/List",
      rpc: `${APPROVAL_SERVICE}/List`,
      validate: (request, caller) => {
        granted(caller);
        const status = filter(request.status, "status");
        if (status !== undefined && !APPROVAL_STATUSES.includes(status as ApprovalStatus))
          throw new VerdictError("invalid_argument", `status must be one of ${APPROVAL_STATUSES.join(", ")}`);
        const limit = request.limit || DEFAULT_LIMIT;
        if (!Number.isInteger(limit) || limit < 1 || limit > MAX_LIMIT)
          throw new VerdictError("invalid_argument", `limit must be a whole number from 1 to ${MAX_LIMIT}`);
        const issuer = filter(request.issuer, "issuer");
        const subject = filter(request.subject, "subject");
        const clientId = filter(request.client_id, "client_id");
        return {
          limit,
          ...(issuer !== undefined ? { issuer } : {}),
          ...(subject !== undefined ? { subject } : {}),
          ...(clientId !== undefined ? { client_id: clientId } : {}),
          ...(status !== undefined ? { status: status as ApprovalStatus } : {}),
        };
      },
      run: (query) => approvals.list(query),
      encode: (views) => ({ approvals: views.map(encodeApproval) }),
    }),
    get: unary(context, {
      name: "ApprovalService/Get",
      rpc: `${APPROVAL_SERVICE}/Get`,
      validate: (request, caller) => {
        granted(caller);
        return checkedApprovalId(request.approval_id ?? "");
      },
      run: (id) => approvals.get(id),
      encode: encodeApproval,
    }),
    approve: decide("approve"),
    refuse: decide("refuse"),
  };
}
