import { createPrivateKey, X509Certificate } from "node:crypto";
import { readFileSync } from "node:fs";
import * as grpc from "@grpc/grpc-js";
import type { TlsConfig } from "./config.js";
import { VerdictError } from "../errors/index.js";

export interface TlsFiles {
  cert: Buffer;
  key: Buffer;
  /** With mutual TLS: the CA that issues the callers' certificates. */
  ca?: Buffer;
}

/**
 * A listener's TLS files (`section` names it in errors: "tls", "authzen.tls"), read and
 * checked as a pair: a certificate that is not one, a key that is not one (or is
 * encrypted), and a key that does not belong to the certificate are each refused by
 * name (config_invalid) rather than surfacing as an OpenSSL code from the listener.
 */
export function readTlsFiles(tls: TlsConfig, section: string): TlsFiles {
  const read = (path: string, what: string) => {
    try {
      return readFileSync(path);
    } catch (error) {
      throw new VerdictError("config_invalid", `${section}: cannot read the ${what} ${path}: ${(error as NodeJS.ErrnoException).code ?? "error"}`);
    }
  };
  const parsed = <T>(what: string, path: string, parse: () => T): T => {
    try {
      return parse();
    } catch (error) {
      throw new VerdictError("config_invalid", `${section}: ${path} is not a usable ${what} (PEM): ${(error as Error).message}`);
    }
  };
  const cert = read(tls.cert_file, "certificate");
  const key = read(tls.key_file, "key");
  const ca = tls.client_ca_file !== undefined ? read(tls.client_ca_file, "client CA") : undefined;
  const certificate = parsed("certificate", tls.cert_file, () => new X509Certificate(cert));
  const privateKey = parsed("private key", tls.key_file, () => createPrivateKey(key));
  if (!certificate.checkPrivateKey(privateKey))
    throw new VerdictError("config_invalid", `${section}: the key ${tls.key_file} does not belong to the certificate ${tls.cert_file}`);
  if (ca !== undefined) parsed("CA certificate", tls.client_ca_file as string, () => new X509Certificate(ca));
  return { cert, key, ...(ca ? { ca } : {}) };
}

/** TLS when configured (mutual TLS when a client CA is named), else plaintext. */
export function serverCredentials(tls: TlsConfig | undefined): grpc.ServerCredentials {
  if (!tls) return grpc.ServerCredentials.createInsecure();
  const { cert, key, ca } = readTlsFiles(tls, "tls");
  return grpc.ServerCredentials.createSsl(ca ?? null, [{ cert_chain: cert, private_key: key }], ca !== undefined);
}
