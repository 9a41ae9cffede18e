import { readFileSync } from "node:fs";
import * as grpc from "@grpc/grpc-js";
import type { TlsConfig } from "../config/index.js";
import { VerdictError } from "../errors/index.js";

/** TLS when configured (mutual TLS when a client CA is named), else plaintext. */
export function serverCredentials(tls: TlsConfig | undefined): grpc.ServerCredentials {
  if (!tls) return grpc.ServerCredentials.createInsecure();
  const read = (path: string, what: string) => {
    try {
      return readFileSync(path);
    } catch (error) {
      throw new VerdictError("config_invalid", `cannot read TLS ${what} ${path}: ${(error as NodeJS.ErrnoException).code ?? "error"}`);
    }
  };
  const clientCa = tls.clientCaFile !== undefined ? read(tls.clientCaFile, "client CA") : null;
  return grpc.ServerCredentials.createSsl(clientCa, [{ cert_chain: read(tls.certFile, "certificate"), private_key: read(tls.keyFile, "key") }], clientCa !== null);
}
