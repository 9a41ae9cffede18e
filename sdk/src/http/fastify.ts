// A Fastify preHandler hook (tested with Fastify 5), written against the few members
// it uses so the SDK does not depend on Fastify.
import type { VerdictClient } from "../client.js";
import { createGuard, releaseUnrun, type GuardOptions, type RouteRule, type VerdictContext } from "./guard.js";
import { isEncrypted, type HttpHeaders } from "./request.js";

export interface FastifyLikeRequest {
  method: string;
  /** The request target as sent, with any route prefix. */
  url: string;
  headers: HttpHeaders;
  raw?: { socket?: unknown };
  verdict?: VerdictContext | null;
}

export interface FastifyLikeReply {
  /** Set once something answered the request (or took it over: reply.hijack()); Fastify then runs no handler. */
  readonly sent?: boolean;
  code(statusCode: number): unknown;
  header(name: string, value: string): unknown;
  send(payload: string): unknown;
}

/**
 * `const verdict = verdictFastify(client)`, then per route:
 * `app.get("/invoices", { preHandler: verdict({ action: "invoices:read", resource: { type: "invoice" } }) }, handler)`.
 * On ALLOW the handler finds `request.verdict` (see verdictOf); otherwise the reply is sent here.
 */
export function verdictFastify(client: VerdictClient, options: GuardOptions = {}) {
  const guard = createGuard(client, options);
  // NoInfer: Fastify's hook option is a union of hook types, from which TypeScript
  // would infer `never`; Req comes from the rule, or is given: verdict<FastifyRequest<...>>(...).
  return function route<Req extends FastifyLikeRequest = FastifyLikeRequest>(rule: RouteRule<Req>) {
    // Errors thrown here (a bug in a rule's function) reach Fastify's error handler: 500.
    return async (request: NoInfer<Req>, reply: FastifyLikeReply): Promise<unknown> => {
      const http = { method: request.method, url: request.url, headers: request.headers, encrypted: isEncrypted(request.raw?.socket) };
      const result = await guard.authorize(http, request, rule);
      if (reply.sent === true) {
        // The client was answered meanwhile (a timeout): nothing is written, and the handler does not run.
        if (result.ok) releaseUnrun(result.verdict);
        return reply;
      }
      if (result.ok) {
        request.verdict = result.verdict;
        return undefined;
      }
      reply.code(result.answer.status);
      for (const [name, value] of Object.entries(result.answer.headers)) reply.header(name, value);
      reply.send(JSON.stringify(result.answer.body));
      // Returning the reply tells Fastify the response is sent: the handler does not run.
      return reply;
    };
  };
}
