// The approval routes of the admin listener (docs/approvals.md), for a console and
// for the links a notification carries: the person reads what they are asked about
// and approves or refuses it, each call with their own access token (Bearer).
//   GET  /approvals/:id           the approval, to the user or a named approver
//   POST /approvals/:id/approve   {"reason"?: string}
//   POST /approvals/:id/refuse    {"reason"?: string}
import type { FastifyReply, FastifyRequest } from "fastify";
import { ApprovalScopeError, type Approvals } from "../../approvals/index.js";
import { mappingOf, VerdictError } from "../../errors/index.js";
import type { AdminRoutes } from "./server.js";

const params = { type: "object", required: ["id"], properties: { id: { type: "string", maxLength: 64 } }, additionalProperties: false } as const;
/** The optional body ({"reason"?: string}); a POST from a notification link may send none. */
function reasonOf(body: unknown): string | undefined {
  if (body === undefined || body === null) return undefined;
  if (typeof body !== "object" || Array.isArray(body) || Object.keys(body).some((key) => key !== "reason")) {
    throw new VerdictError("invalid_argument", 'the body must be a JSON object with at most a "reason"');
  }
  const { reason } = body as { reason?: unknown };
  if (reason !== undefined && (typeof reason !== "string" || reason.length > 512))
    throw new VerdictError("invalid_argument", "reason must be a string of at most 512 characters");
  return reason;
}

function bearer(request: FastifyRequest): string {
  const header = request.headers.authorization ?? "";
  const match = /^Bearer ([A-Za-z0-9\-._~+/]+=*)$/.exec(header);
  if (!match?.[1]) throw new VerdictError("invalid_token", "send your own access token: Authorization: Bearer <token>");
  return match[1];
}

/** A typed error as JSON ({error, message}) with its HTTP status; token refusals also as RFC 6750 / RFC 9470 challenges. */
function refuse(reply: FastifyReply, error: unknown): FastifyReply {
  if (!(error instanceof VerdictError)) throw error;
  const status = mappingOf(error).http;
  if (error.code === "invalid_token" || error.code === "dpop_bound_token") reply.header("www-authenticate", `Bearer error="invalid_token"`);
  if (error.code === "approval_authentication_insufficient") reply.header("www-authenticate", `Bearer error="insufficient_user_authentication"`);
  // Scopes are scope-tokens (no quote or backslash: policy/output.ts), safe inside the quoted value.
  if (error instanceof ApprovalScopeError) reply.header("www-authenticate", `Bearer error="insufficient_scope", scope="${error.scopes.join(" ")}"`);
  const message = status >= 500 && error.code !== "approvals_unavailable" && error.code !== "state_unavailable" ? "internal error" : error.message;
  return reply.code(status).header("cache-control", "no-store").send({ error: error.code, message });
}

/** `approvals` is undefined until Verdict has started it (503 meanwhile). */
export function approvalsRoutes(approvals: () => Approvals | undefined): AdminRoutes {
  const ready = (): Approvals => {
    const running = approvals();
    if (!running) throw new VerdictError("approvals_unavailable", "approvals are not available yet; try again shortly");
    return running;
  };
  return (app) => {
    app.get<{ Params: { id: string } }>("/approvals/:id", { schema: { params } }, async (request, reply) => {
      try {
        const view = await ready().viewFor(request.params.id, bearer(request));
        return reply.header("cache-control", "no-store").send(view);
      } catch (error) {
        return refuse(reply, error);
      }
    });
    for (const verdict of ["approve", "refuse"] as const) {
      app.post<{ Params: { id: string }; Body: unknown }>(`/approvals/:id/${verdict}`, { schema: { params } }, async (request, reply) => {
        try {
          const reason = reasonOf(request.body);
          const view = await ready().decide({ approvalId: request.params.id, token: bearer(request), verdict, via: "http", ...(reason ? { reason } : {}) });
          return reply.header("cache-control", "no-store").send(view);
        } catch (error) {
          return refuse(reply, error);
        }
      });
    }
  };
}
