// Who may use the sign-in and step-up pages, and who may register a client. There
// is no password (pages.ts): one form POST signs a user in and consents for them, so
// a form on any other page the developer visits would get a code for its own
// redirect. The pages answer only a loopback Host (a page whose DNS name was
// rebound to 127.0.0.1 sends its own name), their POSTs only the server's own
// origin, and a web page elsewhere may register loopback redirects only.
import type { FastifyReply, FastifyRequest } from "fastify";
import { hostHeaderIsLoopback, isLoopback } from "../../server/loopback.js";

/** Stable codes of the refusals, in the body's `error`. */
export type PageRefusal = "host_not_loopback" | "cross_origin_refused";

/** Why a request to the pages is refused, if it is: `form` for their POSTs, which also must come from the server's own origin. */
function refusalOf(request: FastifyRequest, form: boolean): { error: PageRefusal; error_description: string } | undefined {
  if (!hostHeaderIsLoopback(request.headers.host)) {
    return {
      error: "host_not_loopback",
      error_description:
        "the development authorization server's pages answer only on a loopback name or address: open them at http://127.0.0.1 or http://localhost with its port",
    };
  }
  if (!form) return undefined;
  // A request with neither header is not a browser's (curl, a test): nothing to forge for.
  const site = request.headers["sec-fetch-site"];
  const origin = request.headers.origin;
  if (
    (site !== undefined && site !== "same-origin" && site !== "none") ||
    (origin !== undefined && origin !== `http://${(request.headers.host ?? "").toLowerCase()}`)
  ) {
    return {
      error: "cross_origin_refused",
      error_description: "signing in, consenting and stepping up take a form from the development authorization server's own pages only",
    };
  }
  return undefined;
}

/** onRequest of the sign-in and step-up pages (GET): a Host that names this machine. */
export async function loopbackHostOnly(request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply | undefined> {
  const refusal = refusalOf(request, false);
  return refusal ? reply.code(403).send(refusal) : undefined;
}

/** onRequest of the pages' forms (POST): a loopback Host, and the server's own origin. */
export async function ownPagesOnly(request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply | undefined> {
  const refusal = refusalOf(request, true);
  return refusal ? reply.code(403).send(refusal) : undefined;
}

/** Whether a registration comes from a web page served from elsewhere than this machine (its Origin, which browsers always send cross-origin). */
export function fromForeignPage(request: FastifyRequest): boolean {
  const origin = request.headers.origin;
  if (origin === undefined) return false;
  try {
    return !isLoopback(new URL(origin).hostname);
  } catch {
    // "null" (a sandboxed frame, a file), or not an origin at all.
    return true;
  }
}
