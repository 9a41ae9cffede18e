// Listening on the gRPC port, with a bound on the connections open: the primary's
// balancer (balancer.ts) and a Verdict of one process (server/grpc/listener.ts) both
// accept connections themselves and hand them on, and both close one beyond
// max_connections at once, rather than let a client that opens connections without
// end take the memory the open ones are served with.
import type { Server } from "node:net";
import { listenFailed } from "../errors/index.js";
import { CountedWarning, type Logger } from "../observability/index.js";

/** Listens on host:port (0: a free port); the port, or listen_failed when it cannot. Later errors are logged. */
export async function listenOn(server: Server, host: string, port: number, log: Logger): Promise<number> {
  const bound = await new Promise<number>((resolve, reject) => {
    const refuse = (error: Error) => reject(listenFailed(host, port, error));
    server.once("error", refuse);
    server.listen({ host, port }, () => {
      server.off("error", refuse);
      const info = server.address();
      resolve(typeof info === "object" && info !== null ? info.port : port);
    });
  });
  server.on("error", (error) => log.error({ err: error.message }, "the gRPC listener failed"));
  return bound;
}

/**
 * The metric of the connections closed for max_connections, kept by whichever process
 * listens (a Verdict of one process; the primary of several, on its /metrics).
 */
export const CONNECTIONS_REFUSED_METRIC = {
  name: "verdict_grpc_connections_refused_total",
  help: "gRPC connections closed as soon as they were accepted because max_connections were open.",
};

/**
 * The metric of the connections admin_listen closed for its bound, kept by whichever
 * process serves it (a Verdict of one process; the primary of several, on its /metrics).
 */
export const ADMIN_CONNECTIONS_REFUSED_METRIC = {
  name: "verdict_admin_connections_refused_total",
  help: "Admin listener connections closed as soon as they were accepted because a bound of open connections was reached: from their address (per_address), or in all with none idle (total).",
  labelNames: ["reason"] as [string],
};

/** The metric of the connections admin_listen closed for their answers (src/server/http-answers.ts), kept as the one above. */
export const ADMIN_CONNECTIONS_CLOSED_METRIC = {
  name: "verdict_admin_connections_closed_total",
  help: "Admin listener connections closed because their client had too many requests unanswered at once (pipelined) or did not read its answers (unread).",
  labelNames: ["reason"] as [string],
};

/** Counts the connections closed for `setting` (max_connections, or another listener's bound), in a warning logged at most every 10 s. */
export function refusedConnections(log: Logger, maxConnections: number, setting = "max_connections"): CountedWarning {
  return new CountedWarning(log, `refused a connection: ${setting} are open; it was closed at once`, { maxConnections });
}
