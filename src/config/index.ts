export { stateDirFrom, type ConfigContext, type Environment } from "./fields.js";
export { buildConfig, ConfigError, loadConfigFile, type BuildOptions } from "./load.js";
export { configSchema, type Config, type ConfigFile } from "./schema.js";
