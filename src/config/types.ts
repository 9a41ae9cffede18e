import type { Algorithm } from "./schema.js";

export type LogLevel = "fatal" | "error" | "warn" | "info" | "debug" | "trace" | "silent";

export interface IssuerConfig {
  issuer: string;
  jwksUri?: string;
  jwksFile?: string;
  introspection?: {
    endpoint: string;
    clientId: string;
    /** Read from client_secret_file at start. */
    clientSecret: string;
    timeoutMs: number;
    cacheMaxSeconds: number;
  };
  algorithms: Algorithm[];
  allowUntypedJwt: boolean;
  jwks: { refreshSeconds: number; staleGraceSeconds: number; cooldownSeconds: number; timeoutMs: number };
}

export interface ClientCertificateIdentity {
  subjectCn?: string;
  dnsSan?: string;
  uriSan?: string;
}

export interface ApiConfig {
  name: string;
  audience: string;
  /** Lowercase hex SHA-256 of the API's key; the key itself is never stored. */
  keySha256?: string;
  clientCertificate?: ClientCertificateIdentity;
  scopes: string[];
  unknownScopes: "deny" | "ignore";
}

export interface TlsConfig {
  certFile: string;
  keyFile: string;
  clientCaFile?: string;
}

export interface Config {
  /** "dev" only through `--profile dev`: local keys, printed API key. */
  profile: "production" | "dev";
  listen: { host: string; port: number };
  tls?: TlsConfig;
  insecurePlaintext: boolean;
  issuers: IssuerConfig[];
  apis: ApiConfig[];
  bundlePath: string;
  /** Items a CheckBatch may hold. */
  maxBatchItems: number;
  policy: {
    /** Reload the bundles when their files change. */
    watch: boolean;
    /** A candidate bundle evaluated beside the active one; its answers are recorded, never given. */
    shadowBundlePath: string | undefined;
    shadowWaitMs: number;
    shadowRetentionDays: number;
    /** Bounds of one evaluation. */
    timeoutMs: number;
    memoryMb: number;
    workers: number;
  };
  /** Where GET /metrics is served (Prometheus text); none when undefined. */
  metricsListen: { host: string; port: number } | undefined;
  mongo: {
    /** Undefined: start the pinned local-mongo with its data under stateDir. */
    uri: string | undefined;
    database: string;
    timeoutMs: number;
  };
  token: { clockSkewSeconds: number; maxBytes: number; cacheEntries: number; dpopMaxAgeSeconds: number };
  logLevel: LogLevel;
  audit: AuditConfig;
  /** Local files of a development setup (.verdict/): dev issuer key, local database. */
  stateDir: string;
  /** The AuthZEN listener (docs/authzen.md); undefined: not served. */
  authzen?: AuthzenConfig;
}

export interface AuthzenApiConfig {
  name: string;
  /** Without a token, the PEP's subject is the principal (insecure unless the PEP authenticates its users). */
  trustAssertedSubjects: boolean;
  /** Where the PEP forwards the user's access token, if it does. */
  token?: { in: "subject.properties" | "context"; property: string };
  /** Whether a false decision carries its reasons in `context`. */
  decisionContext: "reasons" | "none";
}

export interface AuthzenConfig {
  listen: { host: string; port: number };
  /** How the listener is secured: configured TLS, a development certificate, or (insecure) none. */
  transport: { kind: "tls"; tls: TlsConfig } | { kind: "dev_certificate" } | { kind: "plaintext" };
  /** The PDP identifier; undefined: the scheme and Host of each request. */
  baseUrl?: string;
  apis: AuthzenApiConfig[];
  /** A key written in clear in the configuration (development only). */
  devApiKey?: string;
  /** Directory files loaded at start (absolute paths). */
  directoryFiles: string[];
  search: { pageSize: number; maxPageSize: number; maxCandidates: number; readTimeoutMs: number };
  maxBodyBytes: number;
}

export interface AuditConfig {
  /** Off only by an explicit `enabled: false`, which is logged loudly at start. */
  enabled: boolean;
  retentionDays: number;
  /** Where records go while the database is unavailable (default: <stateDir>/audit-spill). */
  spillDir: string;
  batchSize: number;
  flushIntervalMs: number;
  maxBuffered: number;
  writeTimeoutMs: number;
  retryIntervalMs: number;
  purgeIntervalMs: number;
  /** API name -> the other APIs whose records it may read through AuditService ("*": all). */
  queryGrants: Record<string, string[]>;
}
