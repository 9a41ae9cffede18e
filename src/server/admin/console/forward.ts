// The console of a multi-process Verdict: the primary's admin listener forwards
// /console and /console/* to the one process that serves the console (src/cluster:
// it takes no decision traffic), on its private loopback admin listener. Requests and
// answers pass as they are (the console process verifies the token, answers with its
// own headers and Content-Security-Policy, and checks Origin against the Host the
// browser sent, which is forwarded unchanged); nothing of them is logged here.
import { request as httpRequest, type IncomingHttpHeaders } from "node:http";
import type { FastifyReply, FastifyRequest } from "fastify";
import type { Logger } from "../../../observability/index.js";
import type { AdminRoutes } from "../server.js";

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

/** A console request that gets no answer from the console process within this fails (502). */
const FORWARD_TIMEOUT_MS = 30_000;

function endToEnd(headers: IncomingHttpHeaders): IncomingHttpHeaders {
  return Object.fromEntries(Object.entries(headers).filter(([name]) => !HOP_BY_HOP.has(name)));
}

/** `target`: the console process's admin URL (http://127.0.0.1:port), undefined while it starts or restarts. */
export function consoleForwardRoutes(target: () => string | undefined, log: Logger): AdminRoutes {
  return (app) => {
    // Bodies pass through as bytes: the console process parses and validates them.
    app.removeAllContentTypeParsers();
    app.addContentTypeParser("*", { parseAs: "buffer" }, (_request, body, done) => done(null, body));
    const forward = async (request: FastifyRequest, reply: FastifyReply) => {
      const base = target();
      if (base === undefined) {
        return reply.code(503).header("retry-after", "1").send({ error: "not_ready", message: "the console's process is starting; try again in a moment" });
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
            log.warn({ err: error.message, path: request.url.split("?")[0] }, "the console's process did not answer");
            void reply.code(502).send({ error: "console_unavailable", message: "the console's process did not answer; try again in a moment" });
          }
          resolve();
        });
        upstream.end(body);
      });
      return reply;
    };
    app.all("/console", forward);
    app.all("/console/*", forward);
  };
}
