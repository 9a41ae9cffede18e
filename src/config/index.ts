export { stateDirFrom, type ConfigContext, type Environment } from "./fields.js";
export { buildConfig, ConfigError, describeProblems, loadConfigFile, readConfigFile, type BuildOptions, type ReadConfigFile } from "./load.js";
export { expandReferences, type Problem } from "./references.js";
export { configSchema, type Config, type ConfigFile } from "./schema.js";
