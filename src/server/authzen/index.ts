export { AuthzenError, type AuthzenErrorCode } from "./errors.js";
export { ensureDevCertificate, devCertificateDir } from "./dev-certificate.js";
export { ENDPOINTS, METADATA_PATH } from "./metadata.js";
export { startAuthzenServer, type AuthzenServerOptions, type RunningAuthzen } from "./server.js";
