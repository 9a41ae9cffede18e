export { CallerRegistry, certificateMatches, hashApiKey, type Authentication, type CallCredentials } from "./callers.js";
export { API_GRANTS, type ApiGrant } from "./config.js";
export { encodeCheckResponse } from "./encode.js";
export { encodeRecord } from "./grpc/audit-service.js";
export { startGrpcServer, type RunningGrpcServer } from "./grpc/server.js";
export { readTlsFiles, serverCredentials } from "./tls.js";
export { startVerdict, type RunningVerdict, type StartOptions } from "./start.js";
export {
  InvalidArgumentError,
  LIMITS,
  validateBatchRequest,
  validateCheckRequest,
  validateReleaseRequest,
  type EdgeLimits,
  type ValidatedBatch,
  type ValidatedCheck,
} from "./validate.js";
