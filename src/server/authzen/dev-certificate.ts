// The development certificate of the AuthZEN listener (authzen.dev_certificate):
// self-signed, for localhost and the loopback addresses, created under VERDICT_HOME
// on first start and reused afterwards, so a PEP can be told to trust it once.
import { generateKeyPairSync, randomBytes } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { isIP } from "node:net";
import { join } from "node:path";
import forge from "node-forge";

export interface DevCertificate {
  certFile: string;
  keyFile: string;
  cert: Buffer;
  key: Buffer;
  /** Whether this start created it. */
  created: boolean;
}

const VALID_DAYS = 365;

export function devCertificateDir(stateDir: string): string {
  return join(stateDir, "authzen-dev-tls");
}

export function ensureDevCertificate(stateDir: string, listenHost: string): DevCertificate {
  const dir = devCertificateDir(stateDir);
  const certFile = join(dir, "cert.pem");
  const keyFile = join(dir, "key.pem");
  let created = false;
  if (!existsSync(certFile) || !existsSync(keyFile)) {
    // Written into a fresh directory, then renamed into place: two processes that
    // race both end up using the first one's pair.
    mkdirSync(stateDir, { recursive: true, mode: 0o700 });
    const temp = `${dir}.${process.pid}.${randomBytes(4).toString("hex")}.tmp`;
    mkdirSync(temp, { mode: 0o700 });
    const { certPem, keyPem } = createSelfSigned(listenHost);
    writeFileSync(join(temp, "cert.pem"), certPem);
    writeFileSync(join(temp, "key.pem"), keyPem, { mode: 0o600 });
    try {
      renameSync(temp, dir);
      created = true;
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      rmSync(temp, { recursive: true, force: true });
      if (code !== "EEXIST" && code !== "ENOTEMPTY") throw error;
    }
  }
  return { certFile, keyFile, cert: readFileSync(certFile), key: readFileSync(keyFile), created };
}

function createSelfSigned(listenHost: string): { certPem: string; keyPem: string } {
  // The key is made by Node (fast, native); node-forge only writes the certificate.
  const { privateKey, publicKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
  const keyPem = privateKey.export({ type: "pkcs8", format: "pem" }).toString();
  const cert = forge.pki.createCertificate();
  cert.publicKey = forge.pki.publicKeyFromPem(publicKey.export({ type: "spki", format: "pem" }).toString());
  cert.serialNumber = "01" + randomBytes(15).toString("hex");
  cert.validity.notBefore = new Date(Date.now() - 60_000);
  cert.validity.notAfter = new Date(Date.now() + VALID_DAYS * 86_400_000);
  const subject = [{ name: "commonName", value: "Verdict AuthZEN development certificate" }];
  cert.setSubject(subject);
  cert.setIssuer(subject);
  const ips = new Set(["127.0.0.1", "::1"]);
  const dns = new Set(["localhost"]);
  const host = listenHost.replace(/^\[|\]$/g, "");
  if (isIP(host) !== 0) {
    if (host !== "0.0.0.0" && host !== "::") ips.add(host);
  } else if (host !== "") dns.add(host);
  cert.setExtensions([
    { name: "basicConstraints", cA: false },
    { name: "keyUsage", digitalSignature: true, keyEncipherment: true },
    { name: "extKeyUsage", serverAuth: true },
    { name: "subjectAltName", altNames: [...[...dns].map((value) => ({ type: 2, value })), ...[...ips].map((ip) => ({ type: 7, ip }))] },
  ]);
  cert.sign(forge.pki.privateKeyFromPem(privateKey.export({ type: "pkcs1", format: "pem" }).toString()), forge.md.sha256.create());
  return { certPem: forge.pki.certificateToPem(cert), keyPem };
}
