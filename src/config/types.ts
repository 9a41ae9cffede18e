import type { Algorithm } from "./schema.js";

export type LogLevel = "fatal" | "error" | "warn" | "info" | "debug" | "trace" | "silent";

export interface IssuerConfig {
  issuer: string;
  jwksUri?: string;
  jwksFile?: string;
  algorithms: Algorithm[];
}

export interface ApiConfig {
  name: string;
  audience: string;
  /** Lowercase hex SHA-256 of the API's key; the key itself is never stored. */
  keySha256: string;
}

export interface Config {
  /** "dev" only through `--profile dev`: local keys, printed API key. */
  profile: "production" | "dev";
  listen: { host: string; port: number };
  issuers: IssuerConfig[];
  apis: ApiConfig[];
  bundlePath: string;
  mongo: {
    /** Undefined: start the pinned local-mongo with its data under stateDir. */
    uri: string | undefined;
    database: string;
    timeoutMs: number;
  };
  token: { clockSkewSeconds: number; maxBytes: number };
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
  writeTimeoutMs: number;
  retryIntervalMs: number;
  purgeIntervalMs: number;
  /** API name -> the other APIs whose records it may read through AuditService ("*": all). */
  queryGrants: Record<string, string[]>;
}
