export { buildConfig, ConfigError, loadConfigFile, stateDirFrom, type BuildOptions, type Environment } from "./load.js";
export { DEFAULT_ALGORITHMS, SUPPORTED_ALGORITHMS, type Algorithm, type ConfigFile } from "./schema.js";
export type { ApiConfig, AuditConfig, Config, IssuerConfig, LogLevel } from "./types.js";
