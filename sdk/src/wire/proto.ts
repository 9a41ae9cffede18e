// Loads the wire contract (proto/verdict/v1/verdict.proto) the same way for the
// server and every client, so both agree on field names and value shapes.
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";

/** Field names as in the .proto, enums by name, int64 as numbers, oneof discriminators. */
export const PROTO_OPTIONS: protoLoader.Options = {
  keepCase: true,
  longs: Number,
  enums: String,
  defaults: true,
  oneofs: true,
};

/**
 * The directory holding verdict/v1/*.proto: in the repository, its one canonical
 * copy (so an edit is seen at once); in an installed package, the copy it ships.
 */
export function protoRoot(): string {
  for (const candidate of ["../../../proto", "../../proto"]) {
    const dir = fileURLToPath(new URL(candidate, import.meta.url));
    if (existsSync(`${dir}/verdict/v1/verdict.proto`)) return dir;
  }
  throw new Error("verdict.proto not found next to @verdict/sdk; reinstall the package");
}

export interface VerdictGrpcPackage {
  verdict: {
    v1: {
      PolicyDecisionService: grpc.ServiceClientConstructor;
      AuditService: grpc.ServiceClientConstructor;
    };
  };
}

let cached: VerdictGrpcPackage | undefined;

export function loadVerdictProto(): VerdictGrpcPackage {
  if (!cached) {
    const definition = protoLoader.loadSync("verdict/v1/verdict.proto", { ...PROTO_OPTIONS, includeDirs: [protoRoot()] });
    cached = grpc.loadPackageDefinition(definition) as unknown as VerdictGrpcPackage;
  }
  return cached;
}
