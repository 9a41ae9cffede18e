// A throwaway certificate authority for TLS and mutual-TLS tests (node-forge, so
// the tests need no openssl on the machine).
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import forge from "node-forge";

export interface Issued {
  certPem: string;
  keyPem: string;
  certFile: string;
  keyFile: string;
}

export interface TestCa extends Issued {
  issue(options: { cn: string; dnsNames?: string[]; uris?: string[]; ips?: string[]; server?: boolean }): Issued;
}

const dir = () => mkdtempSync(join(tmpdir(), "verdict-certs-"));

function write(certPem: string, keyPem: string): Issued {
  const at = dir();
  const certFile = join(at, "cert.pem");
  const keyFile = join(at, "key.pem");
  writeFileSync(certFile, certPem);
  writeFileSync(keyFile, keyPem, { mode: 0o600 });
  return { certPem, keyPem, certFile, keyFile };
}

function validity(cert: forge.pki.Certificate): void {
  cert.validity.notBefore = new Date(Date.now() - 60_000);
  cert.validity.notAfter = new Date(Date.now() + 24 * 3_600_000);
}

export function createTestCa(name = "Verdict Test CA"): TestCa {
  const keys = forge.pki.rsa.generateKeyPair(2048);
  const cert = forge.pki.createCertificate();
  cert.publicKey = keys.publicKey;
  cert.serialNumber = "01";
  validity(cert);
  const subject = [{ name: "commonName", value: name }];
  cert.setSubject(subject);
  cert.setIssuer(subject);
  cert.setExtensions([
    { name: "basicConstraints", cA: true },
    { name: "keyUsage", keyCertSign: true, cRLSign: true },
  ]);
  cert.sign(keys.privateKey, forge.md.sha256.create());
  const ca = write(forge.pki.certificateToPem(cert), forge.pki.privateKeyToPem(keys.privateKey));
  let serial = 1;
  return {
    ...ca,
    issue({ cn, dnsNames = [], uris = [], ips = [], server = false }) {
      const leafKeys = forge.pki.rsa.generateKeyPair(2048);
      const leaf = forge.pki.createCertificate();
      leaf.publicKey = leafKeys.publicKey;
      leaf.serialNumber = String(++serial).padStart(2, "0");
      validity(leaf);
      leaf.setSubject([{ name: "commonName", value: cn }]);
      leaf.setIssuer(subject);
      const altNames = [...dnsNames.map((value) => ({ type: 2, value })), ...uris.map((value) => ({ type: 6, value })), ...ips.map((ip) => ({ type: 7, ip }))];
      leaf.setExtensions([
        { name: "basicConstraints", cA: false },
        { name: "keyUsage", digitalSignature: true, keyEncipherment: true },
        { name: "extKeyUsage", serverAuth: server, clientAuth: !server },
        ...(altNames.length ? [{ name: "subjectAltName", altNames }] : []),
      ]);
      leaf.sign(keys.privateKey, forge.md.sha256.create());
      return write(forge.pki.certificateToPem(leaf), forge.pki.privateKeyToPem(leafKeys.privateKey));
    },
  };
}
