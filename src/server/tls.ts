import { readFileSync } from "node:fs";
import * as grpc from "@grpc/grpc-js";
import type { TlsConfig } from "./config.js";
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
  const clientCa = tls.client_ca_file !== undefined ? read(tls.client_ca_file, "client CA") : null;
  return grpc.ServerCredentials.createSsl(
    clientCa,
    [{ cert_chain: read(tls.cert_file, "certificate"), private_key: read(tls.key_file, "key") }],
    clientCa !== null,
  );
}
