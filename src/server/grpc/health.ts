// The standard gRPC health service (grpc.health.v1: Check, List, Watch), on the
// wire code generated from proto/grpc/health/v1 like Verdict's own services, so that
// no .proto file is parsed at start. Load balancers and Kubernetes' gRPC probes ask it.
import * as grpc from "@grpc/grpc-js";
import { HealthService, type HealthCheckResponseMessage, type HealthServer, type HealthServingStatus } from "@verdict/sdk/wire";

type Status = Exclude<HealthServingStatus, "SERVICE_UNKNOWN" | "UNKNOWN">;
type Watch = grpc.ServerWritableStream<unknown, HealthCheckResponseMessage>;

/** The serving status of each named service ("" is the whole server), and the watches that follow it. */
export class HealthStatuses {
  private readonly statuses = new Map<string, Status>();
  private readonly watches = new Map<string, Set<Watch>>();

  constructor(services: readonly string[], initial: Status) {
    for (const service of services) this.statuses.set(service, initial);
  }

  /** Sets every known service's status; each watch hears of a change. */
  setAll(status: Status): void {
    for (const service of this.statuses.keys()) {
      if (this.statuses.get(service) === status) continue;
      this.statuses.set(service, status);
      for (const watch of this.watches.get(service) ?? []) watch.write({ status });
    }
  }

  /** Ends every watch (the server is stopping: their last message said NOT_SERVING), so that they do not hold the shutdown. */
  endWatches(): void {
    for (const watches of this.watches.values()) for (const watch of watches) watch.end();
    this.watches.clear();
  }

  addTo(server: grpc.Server): void {
    const implementation: HealthServer = {
      check: (call, callback) => {
        const status = this.statuses.get(call.request.service);
        if (status) callback(null, { status });
        else callback({ code: grpc.status.NOT_FOUND, details: `no health status for the service ${JSON.stringify(call.request.service)}` });
      },
      list: (_call, callback) => {
        callback(null, { statuses: Object.fromEntries([...this.statuses].map(([service, status]) => [service, { status }])) });
      },
      watch: (call) => {
        const service = call.request.service;
        const watches = this.watches.get(service) ?? new Set<Watch>();
        this.watches.set(service, watches);
        watches.add(call);
        call.on("cancelled", () => watches.delete(call));
        call.write({ status: this.statuses.get(service) ?? "SERVICE_UNKNOWN" });
      },
    };
    server.addService(HealthService, implementation);
  }
}
