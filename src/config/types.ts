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
  /** context and resource.attributes of a Check, each, at most this many bytes as JSON. */
  maxContextBytes: number;
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
  token: { clockSkewSeconds: number; maxBytes: number; cacheEntries: number; dpopMaxAgeSeconds: number; maxLifetimeSeconds: number };
  logLevel: LogLevel;
  audit: AuditConfig;
  /** Local files of a development setup (.verdict/): dev issuer key, local database. */
  stateDir: string;
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
  /** The buffer's bound in bytes (records as JSON text); whichever of the two comes first. */
  maxBufferedBytes: number;
  writeTimeoutMs: number;
  retryIntervalMs: number;
  purgeIntervalMs: number;
  /** API name -> the other APIs whose records it may read through AuditService ("*": all). */
  queryGrants: Record<string, string[]>;
}
