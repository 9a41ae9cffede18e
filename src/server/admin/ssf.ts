// POST /ssf/events: the Shared Signals push receiver (RFC 8935; src/ssf), served when
// transmitters are configured. 202 when a SET is accepted (or acknowledged and
// ignored), 400 with {err, description} when it is refused, 503 when it could not be
// recorded, another delivery of it is being applied, or Verdict is still starting or is
// stopping (the transmitter delivers it again).
import type { SsfReceiver } from "../../ssf/index.js";
import type { AdminRoutes } from "./server.js";

export const SSF_EVENTS_PATH = "/ssf/events";

/** `receiver` is undefined until Verdict has its database and suspensions. */
export function ssfRoutes(enabled: boolean, receiver: () => SsfReceiver | undefined): AdminRoutes {
  return (app) => {
    if (!enabled) return;
    // The body is the SET as sent, whatever the content type: the receiver checks it and answers in RFC 8935's terms.
    app.removeAllContentTypeParsers();
    app.addContentTypeParser("*", { parseAs: "string" }, (_request, body, done) => done(null, body));
    app.post(SSF_EVENTS_PATH, async (request, reply) => {
      reply.header("cache-control", "no-store");
      const running = receiver();
      const delivery = running
        ? await running.receive(request.headers["content-type"], typeof request.body === "string" ? request.body : "")
        : ({ status: 503, body: { err: "temporarily_unavailable", description: "Verdict is starting; deliver again shortly" } } as const);
      if (delivery.status === 202) return reply.code(202).send();
      return reply.code(delivery.status).type("application/json").send(delivery.body);
    });
  };
}
