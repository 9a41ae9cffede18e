// GET /healthz (alive: the process answers) and GET /readyz (ready for traffic:
// every readiness check passes), for probes and load balancers.
import type { ReadinessSource } from "../readiness.js";
import type { AdminRoutes } from "./server.js";

const readyzResponse = {
  type: "object",
  required: ["status", "checks"],
  properties: {
    status: { type: "string", enum: ["ready", "not_ready"] },
    checks: { type: "object", additionalProperties: { type: "boolean" } },
  },
} as const;

export function healthRoutes(readiness: ReadinessSource): AdminRoutes {
  return (app) => {
    app.get(
      "/healthz",
      { schema: { response: { 200: { type: "object", required: ["status"], properties: { status: { type: "string", const: "alive" } } } } } },
      async (_request, reply) => {
        reply.header("cache-control", "no-store");
        return { status: "alive" };
      },
    );
    app.get("/readyz", { schema: { response: { 200: readyzResponse, 503: readyzResponse } } }, async (_request, reply) => {
      const { ready, checks } = readiness.report();
      reply.code(ready ? 200 : 503).header("cache-control", "no-store");
      return { status: ready ? "ready" : "not_ready", checks };
    });
  };
}
