// GET /metrics: the Prometheus text exposition of Verdict's registry.
import type { Registry } from "prom-client";
import type { AdminRoutes } from "./server.js";

/** The registry, or how to get one per scrape (the primary of several processes: theirs, aggregated). */
export function metricsRoutes(source: Registry | (() => Promise<Registry>)): AdminRoutes {
  return (app) => {
    app.get("/metrics", async (_request, reply) => {
      const registry = typeof source === "function" ? await source() : source;
      const text = await registry.metrics();
      reply.header("content-type", registry.contentType).header("cache-control", "no-store");
      return text;
    });
  };
}
