export { createLogger, silentLogger, type Logger } from "./log.js";
