// GET /metrics: the Prometheus text exposition of Verdict's registry.
import type { Registry } from "prom-client";
import type { AdminRoutes } from "./server.js";

export function metricsRoutes(registry: Registry): AdminRoutes {
  return (app) => {
    app.get("/metrics", async (_request, reply) => {
      const text = await registry.metrics();
      reply.header("content-type", registry.contentType).header("cache-control", "no-store");
      return text;
    });
  };
}
