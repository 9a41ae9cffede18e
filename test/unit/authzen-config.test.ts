// The authzen section of the configuration, and the two examples' verdict.json as
// the issue asks for them.
import { createHash } from "node:crypto";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { buildConfig, loadConfigFile, stateDirFrom, type ConfigFile } from "../../src/config/index.js";
import { CERTIFICATION_DIR, TODO_DIR } from "../support/authzen.js";

const sha = (key: string) => createHash("sha256").update(key).digest("hex");
const base: ConfigFile = {
  issuers: [{ issuer: "https://issuer.example", jwks_uri: "https://issuer.example/jwks.json" }],
  apis: [{ name: "pep", audience: "https://pep.example", key_sha256: sha("the-pep-key-000000"), scopes: ["x"] }],
};
const withAuthzen = (authzen: object, more: Partial<ConfigFile> = {}) => ({ ...base, ...more, authzen: { apis: [{ name: "pep" }], ...authzen } });
const build = (file: unknown, profile: "production" | "dev" = "production") => buildConfig(file, { baseDir: "/etc/verdict", env: {}, profile });

describe("authzen configuration", () => {
  it("is absent unless configured", () => {
    expect(build(base).authzen).toBeUndefined();
  });

  it("fills defaults: port 8443, tokens neither taken nor trusted, reasons in false decisions, bounded search, connections and request time", () => {
    const config = build(withAuthzen({ tls: { cert_file: "tls/cert.pem", key_file: "tls/key.pem" }, directory: ["dir.json"] }));
    const tls = { cert_file: "/etc/verdict/tls/cert.pem", key_file: "/etc/verdict/tls/key.pem" };
    expect(config.authzen).toEqual({
      listen: { host: "127.0.0.1", port: 8443 },
      tls,
      dev_certificate: false,
      insecure_plaintext: false,
      transport: { kind: "tls", tls },
      apis: [{ name: "pep", trust_asserted_subjects: false, decision_context: "reasons" }],
      directory: ["/etc/verdict/dir.json"],
      search: { page_size: 100, max_page_size: 1000, max_candidates: 1000, read_timeout_ms: 2000 },
      max_body_bytes: 262144,
      max_connections: 4096,
      request_timeout_ms: 10000,
    });
  });

  it("refuses no connections, and a request time under 1 s or over 5 min", () => {
    const plain = { insecure_plaintext: true };
    expect(() => build(withAuthzen({ ...plain, max_connections: 0 }))).toThrow(/max_connections/);
    expect(() => build(withAuthzen({ ...plain, request_timeout_ms: 999 }))).toThrow(/request_timeout_ms/);
    expect(() => build(withAuthzen({ ...plain, request_timeout_ms: 300_001 }))).toThrow(/request_timeout_ms/);
    expect(build(withAuthzen({ ...plain, max_connections: 1, request_timeout_ms: 1_000 })).authzen).toMatchObject({
      max_connections: 1,
      request_timeout_ms: 1_000,
    });
  });

  it("refuses plain HTTP unless insecure_plaintext says so or the profile is dev", () => {
    expect(() => build(withAuthzen({}))).toThrow(/plain HTTP needs insecure_plaintext: true/);
    expect(build(withAuthzen({ insecure_plaintext: true })).authzen?.transport).toEqual({ kind: "plaintext" });
    expect(build(withAuthzen({}), "dev").authzen?.transport).toEqual({ kind: "plaintext" });
    expect(build(withAuthzen({ dev_certificate: true })).authzen?.transport).toEqual({ kind: "dev_certificate", stateDir: stateDirFrom({}) });
  });

  it.each([
    ["an API that is not registered", withAuthzen({ dev_certificate: true, apis: [{ name: "ghost" }] }), /names ghost, which is not in apis/],
    ["an API listed twice", withAuthzen({ dev_certificate: true, apis: [{ name: "pep" }, { name: "pep" }] }), /lists pep twice/],
    ["no API", withAuthzen({ dev_certificate: true, apis: [] }), /at least one API/],
    ["tls and a development certificate", withAuthzen({ dev_certificate: true, tls: { cert_file: "c", key_file: "k" } }), /tls or dev_certificate, not both/],
    ["TLS and insecure_plaintext", withAuthzen({ dev_certificate: true, insecure_plaintext: true }), /insecure_plaintext means no TLS/],
    [
      "a dev_api_key of no listed API",
      withAuthzen({ dev_certificate: true, dev_api_key: "some-other-key-0000" }),
      /dev_api_key must be the key of an API listed/,
    ],
    ["a base_url with a path", withAuthzen({ dev_certificate: true, base_url: "https://pdp.example/tenant/" }), /base_url/],
    [
      "a token property that is not a name",
      withAuthzen({ dev_certificate: true, apis: [{ name: "pep", token: { in: "context", property: "a b" } }] }),
      /property name/,
    ],
    ["an unknown key", withAuthzen({ dev_certificate: true, trust_everyone: true }), /trust_everyone/],
    [
      "mutual TLS for an API without a certificate identity",
      withAuthzen({ tls: { cert_file: "c", key_file: "k", client_ca_file: "ca" } }),
      /needs a client_certificate identity/,
    ],
  ])("refuses %s", (_name, file, message) => {
    expect(() => build(file)).toThrow(message);
  });

  it("needs an issuer unless an AuthZEN API vouches for its subjects", () => {
    expect(() => build(withAuthzen({ dev_certificate: true }, { issuers: [] }))).toThrow(/at least one trusted issuer/);
    expect(build(withAuthzen({ dev_certificate: true, apis: [{ name: "pep", trust_asserted_subjects: true }] }, { issuers: [] })).issuers).toEqual([]);
  });

  it("maps where a PEP forwards tokens, and bare decisions", () => {
    const config = build(withAuthzen({ dev_certificate: true, apis: [{ name: "pep", token: { in: "subject.properties" }, decision_context: "none" }] }));
    expect(config.authzen?.apis).toEqual([
      { name: "pep", trust_asserted_subjects: false, token: { in: "subject.properties", property: "access_token" }, decision_context: "none" },
    ]);
  });
});

describe("the examples' verdict.json", () => {
  it("certification: AuthZEN on 127.0.0.1:8443 with a development certificate, its dataset, and a dev_api_key of the harness API", () => {
    const config = loadConfigFile(join(CERTIFICATION_DIR, "verdict.json"), {});
    expect(config.authzen?.listen).toEqual({ host: "127.0.0.1", port: 8443 });
    expect(config.authzen?.transport).toEqual({ kind: "dev_certificate", stateDir: stateDirFrom({}) });
    expect(config.authzen?.directory).toEqual([join(CERTIFICATION_DIR, "dataset.json")]);
    const key = config.authzen?.dev_api_key as string;
    const api = config.apis.find((a) => a.key_sha256 === sha(key));
    expect(api?.name).toBe("certification-harness");
    expect(config.authzen?.apis).toEqual([{ name: "certification-harness", trust_asserted_subjects: true, decision_context: "reasons" }]);
    expect(config.bundle).toBe(join(CERTIFICATION_DIR, "build", "bundle.tar.gz"));
  });

  it("todo: bare decisions, as the interop runner compares them, for its PEP's users from the directory", () => {
    const config = loadConfigFile(join(TODO_DIR, "verdict.json"), {});
    expect(config.authzen?.apis).toEqual([{ name: "todo-backend", trust_asserted_subjects: true, decision_context: "none" }]);
    expect(config.authzen?.directory).toEqual([join(TODO_DIR, "directory.json")]);
    expect(config.apis.find((a) => a.key_sha256 === sha(config.authzen?.dev_api_key as string))?.name).toBe("todo-backend");
  });
});
