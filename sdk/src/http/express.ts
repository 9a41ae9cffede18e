// Express middleware (tested with Express 5), written against the few members it
// uses so the SDK does not depend on Express; node:http-style servers fit too.
import type { VerdictClient } from "../client.js";
import type { HttpAnswer } from "./challenge.js";
import { createGuard, releaseUnrun, type GuardOptions, type RouteRule, type VerdictContext } from "./guard.js";
import { isEncrypted, type HttpHeaders } from "./request.js";

export interface ExpressLikeRequest {
  method: string;
  /** Express keeps the full path here when a router is mounted; url is then relative. */
  originalUrl?: string;
  url: string;
  headers: HttpHeaders;
  socket?: unknown;
  verdict?: VerdictContext;
}

export interface NodeLikeResponse {
  statusCode: number;
  /** Set once something answered the request (node:http); the guard then writes nothing. */
  headersSent?: boolean;
  writableEnded?: boolean;
  setHeader(name: string, value: string): unknown;
  end(body: string): unknown;
}

export type NextFunction = (error?: unknown) => void;

export type ExpressMiddleware<Req> = (req: Req, res: NodeLikeResponse, next: NextFunction) => void;

/** Whether something (a timeout middleware, say) has already answered the request. */
export function answered(res: NodeLikeResponse): boolean {
  return res.headersSent === true || res.writableEnded === true;
}

/** Writes the answer, unless something else already answered the request. */
export function writeNodeAnswer(res: NodeLikeResponse, answer: HttpAnswer): void {
  if (answered(res)) return;
  res.statusCode = answer.status;
  for (const [name, value] of Object.entries(answer.headers)) res.setHeader(name, value);
  res.end(JSON.stringify(answer.body));
}

/**
 * `const verdict = verdictExpress(client)`, then per route:
 * `app.get("/invoices", verdict({ action: "invoices:read", resource: { type: "invoice" } }), handler)`.
 * On ALLOW the handler finds `req.verdict` (see verdictOf); otherwise the answer is sent here.
 */
export function verdictExpress(client: VerdictClient, options: GuardOptions = {}) {
  const guard = createGuard(client, options);
  return function route<Req extends ExpressLikeRequest = ExpressLikeRequest>(rule: RouteRule<Req>): ExpressMiddleware<Req> {
    return (req, res, next) => {
      const request = { method: req.method, url: req.originalUrl ?? req.url, headers: req.headers, encrypted: isEncrypted(req.socket) };
      guard
        .authorize(request, req, rule)
        .then((result) => {
          if (result.ok && answered(res)) {
            // The client was answered meanwhile (a timeout middleware): the action must not run.
            releaseUnrun(result.verdict);
          } else if (result.ok) {
            req.verdict = result.verdict;
            next();
          } else {
            writeNodeAnswer(res, result.answer);
          }
        })
        // A bug in a rule's function, in the app, or in writing the answer: Express answers 500 (or
        // closes a response already begun), never next() without the error, and never an unhandled
        // rejection, which would end the process.
        .catch((error: unknown) => next(error ?? new Error("Verdict guard failed")));
    };
  };
}
