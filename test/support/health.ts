// Asking a Verdict whether it is alive and ready, as probes and load balancers do:
// GET /healthz and /readyz on the admin listener, and grpc.health.v1 on the gRPC port.
import * as grpc from "@grpc/grpc-js";
import { HealthClient } from "@verdict/sdk/wire";

export interface Readyz {
  status: number;
  body: { status: string; checks: Record<string, boolean> };
}

export async function readyz(adminUrl: string): Promise<Readyz> {
  const response = await fetch(`${adminUrl}/readyz`);
  return { status: response.status, body: (await response.json()) as Readyz["body"] };
}

export async function healthz(adminUrl: string): Promise<number> {
  return (await fetch(`${adminUrl}/healthz`)).status;
}

const healthClient = (address: string) => new HealthClient(address, grpc.credentials.createInsecure());

/** grpc.health.v1.Health/Check for the whole server (""): SERVING, NOT_SERVING, ... */
export function grpcHealth(address: string, service = ""): Promise<string> {
  const client = healthClient(address);
  return new Promise((resolve, reject) => {
    client.check({ service }, new grpc.Metadata(), { deadline: Date.now() + 10_000 }, (error, response) => {
      client.close();
      if (error) reject(error);
      else resolve(String(response?.status));
    });
  });
}

/** grpc.health.v1.Health/List: service name → status. */
export function grpcHealthList(address: string): Promise<Record<string, string>> {
  const client = healthClient(address);
  return new Promise((resolve, reject) => {
    client.list({}, new grpc.Metadata(), { deadline: Date.now() + 10_000 }, (error, response) => {
      client.close();
      if (error) reject(error);
      else resolve(Object.fromEntries(Object.entries(response?.statuses ?? {}).map(([service, { status }]) => [service, String(status)])));
    });
  });
}

/** grpc.health.v1.Health/Watch: every status the server sends, on one connection opened now. */
export function watchGrpcHealth(address: string, service = ""): { statuses: string[]; close(): void } {
  const client = healthClient(address);
  const statuses: string[] = [];
  const stream = client.watch({ service });
  stream.on("data", (response: { status: string }) => statuses.push(String(response.status)));
  stream.on("error", () => undefined); // the server closing the stream at shutdown
  return {
    statuses,
    close() {
      stream.cancel();
      client.close();
    },
  };
}
