export { buildConfig, ConfigError, loadConfigFile, stateDirFrom, type BuildOptions, type Environment } from "./load.js";
export { DEFAULT_ALGORITHMS, SUPPORTED_ALGORITHMS, type Algorithm, type ConfigFile } from "./schema.js";
export type { ApiConfig, AuditConfig, AuthzenApiConfig, AuthzenConfig, ClientCertificateIdentity, Config, IssuerConfig, LogLevel, TlsConfig } from "./types.js";
