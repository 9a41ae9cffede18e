// The admin routes of a multi-process Verdict that a process serves, not the primary:
// the primary's admin listener forwards them to a process's private loopback admin
// listener (src/cluster) — /console/ to the process that serves only the console,
// the Shared Signals receiver and the approval pages to a deciding process. Requests
// and answers pass as they are (the process verifies tokens and signatures, answers
// with its own headers and Content-Security-Policy, and checks Origin against the
// Host the browser sent, which is forwarded unchanged); nothing of them is logged here.
import { request as httpRequest, type IncomingHttpHeaders } from "node:http";
import { setTimeout as sleep } from "node:timers/promises";
import type { FastifyReply, FastifyRequest } from "fastify";
import type { Logger } from "../../observability/index.js";
import type { AdminRoutes } from "./server.js";

/** Hop-by-hop headers (RFC 9110 §7.6.1): one connection's, never forwarded. */
const HOP_BY_HOP = new Set([
  "connection",
  "keep-alive",
  "proxy-authenticate",
  "proxy-authorization",
  "proxy-connection",
  "te",
  "trailer",
  "transfer-encoding",
  "upgrade",
]);

/** A request that gets no answer from its process within this fails (502). */
const FORWARD_TIMEOUT_MS = 30_000;
/**
 * While no process has said where its admin listener is (one that serves starts that
 * listener just after; one that died is being replaced), a request waits this long for
 * one, looking every TARGET_POLL_MS, before it is answered 503 (retry).
 */
const TARGET_WAIT_MS = 2_000;
const TARGET_POLL_MS = 10;

async function targetWithin(target: () => string | undefined, waitMs: number): Promise<string | undefined> {
  const deadline = performance.now() + waitMs;
  let base = target();
  while (base === undefined && performance.now() < deadline) {
    await sleep(TARGET_POLL_MS);
    base = target();
  }
  return base;
}

function endToEnd(headers: IncomingHttpHeaders): IncomingHttpHeaders {
  return Object.fromEntries(Object.entries(headers).filter(([name]) => !HOP_BY_HOP.has(name)));
}

export interface ForwardOptions {
  /** The routes forwarded, as Fastify paths ("/console", "/console/*"). */
  paths: readonly string[];
  /** The admin URL (http://127.0.0.1:port) of the process that answers; undefined while none is serving. */
  target: () => string | undefined;
  /** Who answers, for messages and the log: "the console's process". */
  process: string;
  /** The stable code of a 502 when it does not answer. */
  unavailable: string;
  log: Logger;
}

export function forwardRoutes({ paths, target, process: who, unavailable, log }: ForwardOptions): AdminRoutes {
  return (app) => {
    // Bodies pass through as bytes: the console process parses and validates them.
    app.removeAllContentTypeParsers();
    app.addContentTypeParser("*", { parseAs: "buffer" }, (_request, body, done) => done(null, body));
    const forward = async (request: FastifyRequest, reply: FastifyReply) => {
      const base = await targetWithin(target, TARGET_WAIT_MS);
      if (base === undefined) {
        return reply
          .code(503)
          .header("retry-after", "1")
          .send({ error: "not_ready", message: `${who} is starting; try again in a moment` });
      }
      const url = new URL(base);
      const body = Buffer.isBuffer(request.body) ? request.body : undefined;
      const headers = endToEnd(request.headers);
      if (body !== undefined) headers["content-length"] = String(body.length);
      await new Promise<void>((resolve) => {
        const upstream = httpRequest(
          { host: url.hostname, port: url.port, method: request.method, path: request.url, headers, timeout: FORWARD_TIMEOUT_MS },
          (response) => {
            void reply
              .code(response.statusCode ?? 502)
              .headers(endToEnd(response.headers))
              .send(response);
            resolve();
          },
        );
        upstream.on("timeout", () => upstream.destroy(new Error(`no answer within ${FORWARD_TIMEOUT_MS} ms`)));
        upstream.on("error", (error) => {
          if (!reply.sent) {
            log.warn({ err: error.message, path: request.url.split("?")[0] }, `${who} did not answer`);
            void reply.code(502).send({ error: unavailable, message: `${who} did not answer; try again in a moment` });
          }
          resolve();
        });
        upstream.end(body);
      });
      return reply;
    };
    for (const path of paths) app.all(path, forward);
  };
}
