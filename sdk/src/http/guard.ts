// The framework-free core of the middleware: read the credentials, ask Verdict,
// and either hand back the verified principal or the HTTP answer for a refusal.
// Every path that is not an ALLOW ends in an answer: nothing here lets a request
// through on an error.
import type { ResourceRef, VerdictClient } from "../client.js";
import type { Obligation, Principal, Reason, ReleaseResult } from "../decision.js";
import { VerdictError } from "../errors.js";
import type { JsonObject } from "../wire/index.js";
import { toHttpAnswer, type HttpAnswer } from "./challenge.js";
import { parsePublicBaseUrl, readApprovalId, readCredentials, readRequestId, readTraceContext, requestUrl, type HttpRequestLike } from "./request.js";

/** What a route tells Verdict about a request. */
export interface RouteRule<Req> {
  /** e.g. "invoices:read", or computed from the request. */
  action: string | ((req: Req) => string);
  /** What the request acts on, e.g. { type: "invoice", id: req.params.id }. */
  resource: ResourceRef | ((req: Req) => ResourceRef);
  /** Facts the policy may use (an amount, an item count); plain JSON. */
  context?: (req: Req) => JsonObject;
}

export interface GuardOptions {
  /**
   * The public URL clients use to reach this API (e.g. "https://api.example.com"),
   * for DPoP proofs. Without it, the request's own Host header is trusted.
   */
  publicBaseUrl?: string;
  /** Seconds in Retry-After when Verdict gives no decision (default 5). */
  retryAfterSeconds?: number;
  /** Overrides the client's deadline for these checks. */
  deadlineMs?: number;
  /** Called when Verdict gave no decision (the request is answered 503 or 400): log it here. */
  onError?: (error: VerdictError) => void;
}

/** What an allowed request carries to its handler (`req.verdict`). */
export interface VerdictContext {
  /** Who is asking, as verified: scope the handler's queries by principal.subject. */
  principal: Principal;
  decisionId: string;
  /** What Verdict enforced (budget reserved, rate counted, key consumed). */
  obligations: Obligation[];
  reasons: Reason[];
  policyRevision: string;
  /**
   * Gives the obligations back when the action did not happen after all (idempotent).
   * The MCP guard's, on a request that passed on several messages of a batch, rejects
   * (verdict_release_ambiguous) and releases nothing: release each decision on its own.
   */
  release(): Promise<ReleaseResult>;
}

export type GuardResult = { ok: true; verdict: VerdictContext } | { ok: false; answer: HttpAnswer };

export interface Guard {
  authorize<Req>(request: HttpRequestLike, req: Req, rule: RouteRule<Req>): Promise<GuardResult>;
}

export function createGuard(client: VerdictClient, options: GuardOptions = {}): Guard {
  const publicBaseUrl = parsePublicBaseUrl(options.publicBaseUrl);
  const answer = (outcome: Parameters<typeof toHttpAnswer>[0], scheme?: "Bearer" | "DPoP"): GuardResult => {
    const http = toHttpAnswer(outcome, {
      ...(scheme ? { scheme } : {}),
      ...(options.retryAfterSeconds !== undefined ? { retryAfterSeconds: options.retryAfterSeconds } : {}),
    });
    if (!http) throw new Error("unreachable: a refusal without an HTTP answer");
    return { ok: false, answer: http };
  };

  return {
    async authorize(request, req, rule) {
      const credentials = readCredentials(request.headers);
      if (credentials.kind !== "token") return answer({ kind: credentials.kind === "none" ? "no_token" : credentials.kind });
      const url = credentials.dpopProof !== undefined ? requestUrl(request, publicBaseUrl) : undefined;
      const requestId = readRequestId(request.headers);
      const traceContext = readTraceContext(request.headers);
      const approvalId = readApprovalId(request.headers);
      if (approvalId === null)
        return answer({ kind: "malformed_request", code: "approval_id_malformed", description: "Name one approval at most, in one Verdict-Approval header." });
      let decision;
      try {
        decision = await client.check(
          {
            token: credentials.token,
            action: typeof rule.action === "function" ? rule.action(req) : rule.action,
            resource: typeof rule.resource === "function" ? rule.resource(req) : rule.resource,
            context: rule.context ? rule.context(req) : {},
            ...(requestId !== undefined ? { requestId } : {}),
            ...(traceContext ? { traceContext } : {}),
            ...(approvalId !== undefined ? { approvalId } : {}),
            // Without a URL the proof cannot be checked: Verdict then refuses a bound token.
            ...(credentials.dpopProof !== undefined && url !== undefined
              ? { dpop: { proof: credentials.dpopProof, method: request.method.toUpperCase(), url } }
              : {}),
          },
          options.deadlineMs !== undefined ? { deadlineMs: options.deadlineMs } : {},
        );
      } catch (error) {
        if (!(error instanceof VerdictError)) throw error;
        options.onError?.(error);
        return answer({ kind: "error", error });
      }
      if (decision.decision !== "ALLOW") return answer({ kind: "decision", decision }, credentials.scheme);
      const { principal, decisionId, obligations, reasons, policyRevision } = decision;
      return {
        ok: true,
        verdict: { principal, decisionId, obligations, reasons, policyRevision, release: () => client.release(decisionId) },
      };
    },
  };
}

/**
 * An allow that came after something else answered the request (a timeout): the action
 * will not run, so what Verdict applied for it is given back. A failed release leaves it
 * held until its window ends: never an overspend.
 */
export function releaseUnrun(verdict: VerdictContext): void {
  if (verdict.obligations.length > 0) verdict.release().catch(() => undefined);
}

/**
 * The Verdict context of a request a guard allowed. Throws (fail closed) when the
 * request did not pass a guard, e.g. a route that forgot its middleware.
 */
export function verdictOf(req: object): VerdictContext {
  const verdict = (req as { verdict?: Partial<VerdictContext> | null }).verdict;
  if (!verdict || typeof verdict.principal?.subject !== "string" || typeof verdict.release !== "function") {
    throw new VerdictError("verdict_not_checked", "this request was not allowed by a Verdict guard (is the route's middleware missing?)");
  }
  return verdict as VerdictContext;
}
