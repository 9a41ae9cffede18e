// GET /metrics in the Prometheus text format, when metrics_listen is configured.
import { createServer, type Server } from "node:http";
import type { Registry } from "prom-client";
import { VerdictError } from "../errors/index.js";

export interface RunningMetricsServer {
  port: number;
  close(): Promise<void>;
}

/** Serves a registry, or the registry a function gives at each scrape (the cluster's, gathered from its processes). */
export async function serveMetrics(source: Registry | (() => Promise<Registry>), host: string, port: number): Promise<RunningMetricsServer> {
  const registryNow = typeof source === "function" ? source : () => Promise.resolve(source);
  const server: Server = createServer((request, response) => {
    if (request.method !== "GET" || request.url?.split("?")[0] !== "/metrics") {
      response.writeHead(404).end();
      return;
    }
    registryNow()
      .then(async (registry) => ({ text: await registry.metrics(), type: registry.contentType }))
      .then(
        ({ text, type }) => response.writeHead(200, { "content-type": type }).end(text),
        () => response.writeHead(500).end(),
      );
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", (error) => reject(new VerdictError("listen_failed", `cannot serve metrics on ${host}:${port}: ${error.message}`)));
    server.listen(port, host, resolve);
  });
  const address = server.address();
  return {
    port: typeof address === "object" && address ? address.port : port,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
