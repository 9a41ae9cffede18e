import { createHash } from "node:crypto";
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { buildConfig, ConfigError, loadConfigFile, type ConfigFile } from "../../src/config/index.js";
import { defaultBundlePath } from "../../src/paths.js";

const KEY_HASH = "a".repeat(64);
const valid: ConfigFile = {
  listen: "127.0.0.1:50051",
  issuers: [{ issuer: "https://issuer.example", jwks_uri: "https://issuer.example/jwks.json" }],
  apis: [{ name: "invoices-api", audience: "https://invoices.example", key_sha256: KEY_HASH, scopes: ["invoices:read"] }],
};
const build = (file: unknown, env = {}) => buildConfig(file, { baseDir: "/etc/verdict", env });

describe("configuration", () => {
  it("fills safe defaults: asymmetric algorithms, 60 s skew, 8 KiB tokens, the state deadline and admission, one process per CPU, the demo bundle", () => {
    const config = build(valid);
    expect(config.issuers[0]?.algorithms).toEqual(["ES256", "RS256", "PS256", "EdDSA"]);
    expect(config).toMatchObject({
      clock_skew_seconds: 60,
      max_token_bytes: 8192,
      token_cache_entries: 10_000,
      dpop_max_age_seconds: 120,
      max_token_lifetime_seconds: 86_400,
      max_context_bytes: 32_768,
    });
    expect(config.mongodb_uri).toBeUndefined();
    expect(config).toMatchObject({
      mongodb_database: "verdict",
      state_timeout_ms: 500,
      state_concurrency: 32,
      state_queue_timeout_ms: 5_000,
      processes: "auto",
    });
    expect(config.bundle).toBe(defaultBundlePath);
    expect(config.listen).toEqual({ host: "127.0.0.1", port: 50051 });
    expect(config.profile).toBe("production");
  });

  it("takes as a person's clients (whose tokens decide approvals) the policy library's human client types, normalised, and never none", () => {
    expect(build(valid).approvals.human_client_types).toEqual(["web", "native", "user-agent"]);
    // the same list as the shipped policy library's data: the two are kept in step by hand, and this says when they are not
    const library = JSON.parse(readFileSync(new URL("../../policies/data.json", import.meta.url), "utf8")) as {
      settings: { agents: { human_client_types: string[] } };
    };
    expect(build(valid).approvals.human_client_types).toEqual(library.settings.agents.human_client_types);
    expect(build({ ...valid, approvals: { human_client_types: [" Web", "ＳＰＡ"] } }).approvals.human_client_types).toEqual(["web", "spa"]);
    expect(() => build({ ...valid, approvals: { human_client_types: [] } })).toThrow(/approvals\.human_client_types.*at least one client type/);
    expect(() => build({ ...valid, approvals: { human_client_types: [" "] } })).toThrow(/must name a client type/);
  });

  it("refuses a plain http approvals webhook beyond loopback unless approvals.webhook.insecure_plaintext, and takes one on loopback", () => {
    const secret_file = join(mkdtempSync(join(tmpdir(), "verdict-config-")), "webhook-secret");
    writeFileSync(secret_file, "whsec-test\n");
    const webhook = (url: string, more: Record<string, unknown> = {}) => build({ ...valid, approvals: { webhook: { url, secret_file, ...more } } });
    // the body (the bound context values, approval_url) would travel in clear
    expect(() => webhook("http://hooks.example.com/verdict")).toThrow(/approvals\.webhook\.url: .*in clear.*approvals\.webhook\.insecure_plaintext: true/);
    expect(() => webhook("http://10.0.0.7:8080/verdict")).toThrow(/approvals\.webhook\.insecure_plaintext/);
    expect(webhook("http://hooks.example.com/verdict", { insecure_plaintext: true }).approvals.webhook).toMatchObject({ insecure_plaintext: true });
    for (const url of ["http://127.0.0.1:8080/verdict", "http://localhost:8080/verdict", "http://[::1]:8080/verdict", "https://hooks.example.com/verdict"])
      expect(webhook(url).approvals.webhook).toMatchObject({ url, insecure_plaintext: false });
  });

  it("refuses tracing headers or a query string to a plain http OTLP endpoint beyond loopback unless tracing.insecure_plaintext, and takes them on loopback or https", () => {
    const key = { headers: { "x-api-key": "k-1" } };
    const tracing = (otlp_endpoint: string, more: Record<string, unknown> = key) => build({ ...valid, tracing: { otlp_endpoint, ...more } }).tracing;
    const plain = "http://otel-collector:4318/v1/traces";
    // the collector's key would travel in clear
    expect(() => tracing(plain)).toThrow(/tracing\.otlp_endpoint: .*in clear.*tracing\.insecure_plaintext: true/);
    expect(() => tracing("http://10.0.0.7:4318/v1/traces?api_key=q-1", {})).toThrow(/tracing\.insecure_plaintext/);
    expect(tracing(plain, { ...key, insecure_plaintext: true })).toMatchObject({ insecure_plaintext: true });
    // nothing secret to send: spans carry no token, subject or context value
    expect(tracing(plain, {})).toMatchObject({ insecure_plaintext: false });
    // nor the exporter's own header variables, which it sends beside tracing.headers
    for (const name of ["OTEL_EXPORTER_OTLP_HEADERS", "OTEL_EXPORTER_OTLP_TRACES_HEADERS"]) {
      const env = { variables: { [name]: "authorization=Bearer%20k-2" } };
      expect(() => build({ ...valid, tracing: { otlp_endpoint: plain } }, env)).toThrow(new RegExp(`${name}.*tracing\\.insecure_plaintext: true`));
      expect(build({ ...valid, tracing: { otlp_endpoint: "https://otel.example/v1/traces" } }, env).tracing).toMatchObject({ insecure_plaintext: false });
    }
    const local = ["http://127.0.0.1:4318/v1/traces", "http://localhost:4318/v1/traces?api_key=q-1", "http://[::1]:4318/v1/traces"];
    for (const url of [...local, "https://otel.example/v1/traces"]) expect(tracing(url)).toMatchObject({ otlp_endpoint: url, insecure_plaintext: false });
  });

  it("refuses an OTLP endpoint that carries credentials (user:password@), without repeating them", () => {
    const withCredentials = [
      "https://user:p4ssw0rd@otel.example/v1/traces",
      "https://t0ken-only@otel.example/v1/traces",
      "http://user:p4ssw0rd@127.0.0.1:4318/",
    ];
    for (const otlp_endpoint of withCredentials) {
      let error: ConfigError | undefined;
      try {
        build({ ...valid, tracing: { otlp_endpoint } });
      } catch (caught) {
        error = caught as ConfigError;
      }
      expect(error).toBeInstanceOf(ConfigError);
      expect(error?.message).toMatch(/tracing\.otlp_endpoint: must not carry credentials .*tracing\.headers/);
      expect(error?.message).not.toMatch(/p4ssw0rd|t0ken-only/);
    }
  });

  it("holds an agent to 10 pending approvals per user by default, and takes 1 to 1000", () => {
    expect(build(valid).approvals.max_pending_per_agent).toBe(10);
    expect(build({ ...valid, approvals: { max_pending_per_agent: 1 } }).approvals.max_pending_per_agent).toBe(1);
    expect(build({ ...valid, approvals: { max_pending_per_agent: 1_000 } }).approvals.max_pending_per_agent).toBe(1_000);
    for (const max of [0, 1_001, 2.5]) expect(() => build({ ...valid, approvals: { max_pending_per_agent: max } })).toThrow(/approvals\.max_pending_per_agent/);
  });

  it('refuses the SHA-256 of a well-known key, such as an example\'s "password" copied as it is', () => {
    const withKey = (key: string) => ({ ...valid, apis: [{ ...valid.apis[0], key_sha256: createHash("sha256").update(key).digest("hex") }] });
    for (const key of ["password", "changeme", ""]) expect(() => build(withKey(key))).toThrow(/key_sha256 is the SHA-256 of a well-known key/);
    expect(build(withKey("a random key of the API's own")).apis[0]?.key_sha256).toBeDefined();
  });

  it("takes MONGODB_URI from the environment when the file names no database", () => {
    expect(build(valid, { MONGODB_URI: "mongodb://db:27017" }).mongodb_uri).toBe("mongodb://db:27017");
    expect(build({ ...valid, mongodb_uri: "mongodb://file:1" }, { MONGODB_URI: "mongodb://db:27017" }).mongodb_uri).toBe("mongodb://file:1");
  });

  it("resolves relative paths against the configuration file's directory", () => {
    const config = build({ ...valid, issuers: [{ issuer: "i", jwks_file: "keys/jwks.json" }], bundle: "b.tar.gz" });
    expect(config.issuers[0]?.jwks_file).toBe("/etc/verdict/keys/jwks.json");
    expect(config.bundle).toBe("/etc/verdict/b.tar.gz");
  });

  it.each([
    ["no issuers", { ...valid, issuers: [] }, /at least one trusted issuer/],
    [
      "an issuer with both key sources",
      { ...valid, issuers: [{ issuer: "i", jwks_uri: "https://i/j", jwks_file: "f" }] },
      /exactly one of jwks_uri, jwks_file or introspection/,
    ],
    ["an issuer with no key source", { ...valid, issuers: [{ issuer: "i" }] }, /exactly one of jwks_uri, jwks_file or introspection/],
    ["HMAC", { ...valid, issuers: [{ issuer: "i", jwks_file: "f", algorithms: ["HS256"] }] }, /algorithms/],
    ["alg none", { ...valid, issuers: [{ issuer: "i", jwks_file: "f", algorithms: ["none"] }] }, /algorithms/],
    ["a plaintext API key", { ...valid, apis: [{ name: "a", audience: "b", key_sha256: "secret", scopes: ["s"] }] }, /never the key itself/],
    ["two APIs with one audience", { ...valid, apis: [valid.apis[0], { ...valid.apis[0], name: "other" }] }, /share the audience/],
    ["an unknown key", { ...valid, listen_addr: "x" }, /listen_addr/],
    ["a skew over 60 s", { ...valid, clock_skew_seconds: 61 }, /clock_skew_seconds/],
    ["a context bound over 256 KiB", { ...valid, max_context_bytes: 262_145 }, /max_context_bytes/],
    ["a token lifetime over 30 days", { ...valid, max_token_lifetime_seconds: 30 * 86_400 + 1 }, /max_token_lifetime_seconds/],
    ["a listen address without a port", { ...valid, listen: "localhost" }, /host:port/],
    ["a policy time bound of 0", { ...valid, policy_timeout_ms: 0 }, /policy_timeout_ms/],
    ["a policy queue bound over 60 s", { ...valid, policy_queue_timeout_ms: 60_001 }, /policy_queue_timeout_ms/],
    ["a policy memory bound over 4 GiB", { ...valid, policy_memory_mb: 4097 }, /policy_memory_mb/],
    ["no policy workers", { ...valid, policy_workers: 0 }, /policy_workers/],
    ["an admin address without a port", { ...valid, admin_listen: "localhost" }, /admin_listen/],
    ["the old metrics_listen, naming its new key", { ...valid, metrics_listen: "127.0.0.1:9464" }, /metrics_listen is now admin_listen/],
    ["a connection age of 0", { ...valid, max_connection_age_seconds: 0 }, /max_connection_age_seconds/],
    ["no connections", { ...valid, max_connections: 0 }, /max_connections/],
    ["no streams", { ...valid, max_concurrent_streams: 0 }, /max_concurrent_streams/],
    ["a request time under 1 s", { ...valid, request_timeout_ms: 999 }, /request_timeout_ms/],
    ["a sample ratio over 1", { ...valid, tracing: { otlp_endpoint: "http://collector:4318/v1/traces", sample_ratio: 2 } }, /sample_ratio/],
  ])("refuses %s with a message naming the problem", (_, file, message) => {
    expect(() => build(file)).toThrow(ConfigError);
    expect(() => build(file)).toThrow(message);
  });

  it("reads YAML files", () => {
    const dir = mkdtempSync(join(tmpdir(), "verdict-config-"));
    const path = join(dir, "verdict.yaml");
    writeFileSync(
      path,
      `listen: 0.0.0.0:6000\ninsecure_plaintext: true\nissuers:\n  - issuer: https://issuer.example\n    jwks_file: jwks.json\n    algorithms: [ES256]\napis:\n  - name: a\n    audience: https://a.example\n    key_sha256: ${KEY_HASH}\n    scopes: [a:read]\n`,
    );
    const config = loadConfigFile(path, {});
    expect(config.listen).toEqual({ host: "0.0.0.0", port: 6000 });
    expect(config.issuers[0]).toMatchObject({
      issuer: "https://issuer.example",
      jwks_file: join(dir, "jwks.json"),
      algorithms: ["ES256"],
      allow_typ_jwt: false,
    });
  });

  it("bounds policy evaluation, watches the bundle and has no shadow by default", () => {
    const config = build(valid);
    expect(config.shadow_bundle).toBeUndefined();
    expect(config).toMatchObject({
      bundle_watch: true,
      shadow_wait_ms: 5,
      shadow_retention_days: 7,
      policy_timeout_ms: 250,
      policy_queue_timeout_ms: 5_000,
      policy_memory_mb: 64,
      policy_workers: "auto",
    });
    expect(config.admin_listen).toEqual({ host: "127.0.0.1", port: 9464 });
    expect(config).toMatchObject({
      max_connection_age_seconds: 300,
      max_connection_age_grace_seconds: 30,
      max_connections: 4_096,
      max_concurrent_streams: 1_000,
      request_timeout_ms: 10_000,
    });
    expect(config.tracing).toBeUndefined();
  });

  it("reads the shadow bundle, evaluation bounds and admin address", () => {
    const config = build({
      ...valid,
      shadow_bundle: "candidate.tar.gz",
      bundle_watch: false,
      shadow_wait_ms: 0,
      shadow_retention_days: 30,
      policy_timeout_ms: 50,
      policy_queue_timeout_ms: 800,
      policy_memory_mb: 16,
      policy_workers: 4,
      admin_listen: "0.0.0.0:9470",
    });
    expect(config).toMatchObject({
      bundle_watch: false,
      shadow_bundle: "/etc/verdict/candidate.tar.gz",
      shadow_wait_ms: 0,
      shadow_retention_days: 30,
      policy_timeout_ms: 50,
      policy_queue_timeout_ms: 800,
      policy_memory_mb: 16,
      policy_workers: 4,
    });
    expect(config.admin_listen).toEqual({ host: "0.0.0.0", port: 9470 });
  });

  it("lists every problem in one pass, each with its path", () => {
    let error: ConfigError | undefined;
    try {
      build({ ...valid, listen: "nowhere", max_batch_items: 0, apis: [{ ...valid.apis[0], key_sha256: "secret" }], tracing: { sample_ratio: 3 } });
    } catch (caught) {
      error = caught as ConfigError;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect(error?.problems.map((p) => p.path).sort()).toEqual(["apis[0].key_sha256", "listen", "max_batch_items", "tracing.sample_ratio"]);
    expect(error?.message).toMatch(/^invalid configuration \(4 problems\):\n {2}✖ /);
  });

  describe("secrets from the environment and from files", () => {
    const file = (text: string) => {
      const dir = mkdtempSync(join(tmpdir(), "verdict-config-"));
      writeFileSync(join(dir, "verdict.yaml"), text);
      return { dir, path: join(dir, "verdict.yaml") };
    };
    const base = `issuers:\n  - issuer: https://issuer.example\n    jwks_uri: https://issuer.example/jwks.json\napis:\n  - name: a\n    audience: https://a.example\n    key_sha256: ${KEY_HASH}\n    scopes: [a:read]\n`;

    it("expands ${NAME} in values from the environment, never in keys; $${ is a literal", () => {
      const { path } = file(
        `${base}mongodb_uri: "mongodb://verdict:\${DB_PASSWORD}@db-1/?replicaSet=rs0"\ntracing:\n  otlp_endpoint: https://collector:4318/v1/traces\n  headers:\n    x-api-key: "\${OTLP_KEY}"\n    x-literal: "$\${OTLP_KEY}"\n`,
      );
      const config = loadConfigFile(path, { variables: { DB_PASSWORD: "s3cret", OTLP_KEY: "k-1" } });
      expect(config.mongodb_uri).toBe("mongodb://verdict:s3cret@db-1/?replicaSet=rs0");
      expect(config.tracing?.headers).toEqual({ "x-api-key": "k-1", "x-literal": "${OTLP_KEY}" });
    });

    it("reports a reference to a variable that is not set, with the file's other problems", () => {
      const { path } = file(`${base}mongodb_uri: "mongodb://verdict:\${DB_PASSWORD}@db-1/"\nstate_timeout_ms: 0\n`);
      let error: ConfigError | undefined;
      try {
        loadConfigFile(path, { variables: {} });
      } catch (caught) {
        error = caught as ConfigError;
      }
      expect(error?.problems).toEqual([
        { path: "mongodb_uri", message: "${DB_PASSWORD} names an environment variable that is not set" },
        expect.objectContaining({ path: "state_timeout_ms" }),
      ]);
    });

    it("reads the database URI from mongodb_uri_file, before MONGODB_URI", () => {
      const { dir, path } = file(`${base}mongodb_uri_file: secrets/mongodb-uri\n`);
      mkdirSync(join(dir, "secrets"));
      writeFileSync(join(dir, "secrets", "mongodb-uri"), "mongodb+srv://verdict:pw@cluster.example/\n");
      expect(loadConfigFile(path, { MONGODB_URI: "mongodb://env:1" }).mongodb_uri).toBe("mongodb+srv://verdict:pw@cluster.example/");
      expect(loadConfigFile(path, {})).not.toHaveProperty("mongodb_uri_file");
    });

    it.each([
      [
        "both mongodb_uri and mongodb_uri_file",
        `mongodb_uri: mongodb://a/\nmongodb_uri_file: uri\n`,
        "uri",
        "mongodb://b/",
        /mongodb_uri or mongodb_uri_file, not both/,
      ],
      ["an unreadable mongodb_uri_file", `mongodb_uri_file: missing\n`, "uri", "mongodb://b/", /cannot read secret file .*missing: ENOENT/],
      ["an empty mongodb_uri_file", `mongodb_uri_file: uri\n`, "uri", "\n", /is empty/],
      ["a mongodb_uri_file that holds no mongodb URI", `mongodb_uri_file: uri\n`, "uri", "postgres://x/", /must be a mongodb:\/\/ or mongodb\+srv:\/\/ URI/],
    ])("refuses %s", (_, extra, name, contents, message) => {
      const { dir, path } = file(base + extra);
      writeFileSync(join(dir, name), contents);
      expect(() => loadConfigFile(path, {})).toThrow(message);
    });
  });

  it("says which file could not be read", () => {
    expect(() => loadConfigFile("/nonexistent/verdict.yaml", {})).toThrow(/cannot read configuration \/nonexistent\/verdict.yaml/);
  });
});

describe("configuration problems", () => {
  const problems = (file: unknown, options: { env?: Record<string, string>; overrides?: Record<string, unknown> } = {}): string => {
    try {
      buildConfig(file, { baseDir: "/etc/verdict", env: options.env ?? {}, ...(options.overrides ? { overrides: options.overrides } : {}) });
    } catch (error) {
      expect(error).toBeInstanceOf(ConfigError);
      return (error as Error).message;
    }
    throw new Error("the configuration was accepted");
  };

  it("are all reported in one pass, the rules across fields included", () => {
    const message = problems({
      ...valid,
      listen: "0.0.0.0:50051",
      clock_skew_seconds: 61,
      issuers: [
        { issuer: "i", jwks_file: "f", algorithms: ["HS256"] },
        { issuer: "i", jwks_file: "g" },
      ],
      apis: [valid.apis[0], { ...valid.apis[0], name: "other", scopes: [] }],
      audit: { query_grants: { nobody: ["*"] } },
    });
    for (const expected of [
      /clock_skew_seconds/,
      /algorithms/,
      /duplicate issuer i/,
      /share the audience/,
      /two APIs share one key_sha256/,
      /each API declares the scopes it knows/,
      /names nobody, which is not in apis/,
      /listening beyond loopback without tls/,
    ]) {
      expect(message).toMatch(expected);
    }
  });

  it("refuses two APIs with the same key_sha256, naming the second", () => {
    const message = problems({ ...valid, apis: [valid.apis[0], { ...valid.apis[0], name: "payments-api", audience: "https://payments.example" }] });
    expect(message).toMatch(/apis\[1\]\.key_sha256: two APIs share one key_sha256: a key must name exactly one API/);
  });

  it("holds a --listen override to the file's rules: plaintext beyond loopback is refused with the same message", () => {
    const fromFile = problems({ ...valid, listen: "0.0.0.0:6000" });
    const fromFlag = problems(valid, { overrides: { listen: "0.0.0.0:6000" } });
    expect(fromFlag).toBe(fromFile);
    expect(fromFlag).toMatch(/listening beyond loopback without tls/);
    expect(buildConfig({ ...valid, insecure_plaintext: true }, { baseDir: "/", env: {}, overrides: { listen: "0.0.0.0:6000" } }).listen).toEqual({
      host: "0.0.0.0",
      port: 6000,
    });
  });

  it("reads an IPv6 listen address without its brackets, from the file or a --listen override", () => {
    expect(build({ ...valid, listen: "[::1]:50051" }).listen).toEqual({ host: "::1", port: 50051 });
    expect(buildConfig(valid, { baseDir: "/", env: {}, overrides: { listen: "[::1]:0" } }).listen).toEqual({ host: "::1", port: 0 });
  });

  it("refuses a port out of range", () => {
    expect(problems({ ...valid, listen: "127.0.0.1:70000" })).toMatch(/port 70000 is out of range/);
  });

  it("takes VERDICT_LOG_LEVEL over the file's log_level, and refuses one that names no level", () => {
    expect(build({ ...valid, log_level: "warn" }, { VERDICT_LOG_LEVEL: "debug" }).log_level).toBe("debug");
    expect(build({ ...valid, log_level: "warn" }).log_level).toBe("warn");
    expect(problems(valid, { env: { VERDICT_LOG_LEVEL: "loud" } })).toMatch(/VERDICT_LOG_LEVEL must be one of fatal, error, warn, info, debug, trace, silent/);
  });

  it("says why an introspection secret cannot be read, with the other problems", () => {
    const message = problems({
      ...valid,
      issuers: [{ issuer: "i", introspection: { endpoint: "https://as.example/introspect", client_id: "verdict", client_secret_file: "/nonexistent/secret" } }],
      clock_skew_seconds: -1,
    });
    expect(message).toMatch(/cannot read secret file \/nonexistent\/secret: ENOENT/);
    expect(message).toMatch(/clock_skew_seconds/);
  });
});
