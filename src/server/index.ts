export { AUDIT_SERVICE_NAME, auditQueryHandler, encodeRecord } from "./audit-service.js";
export { API_KEY_HEADER, authenticateCall, CallerRegistry, certificateMatches, hashApiKey, type Authentication, type CallCredentials } from "./callers.js";
export { serverCredentials } from "./tls.js";
export { encodeCheckResponse } from "./encode.js";
export { SERVICE_NAME, startGrpcServer, type RunningGrpcServer } from "./grpc.js";
export { startVerdict, type RunningVerdict, type StartOptions } from "./start.js";
export { InvalidArgumentError, LIMITS, validateBatchRequest, validateCheckRequest, validateReleaseRequest, type EdgeLimits, type ValidatedBatch, type ValidatedCheck } from "./validate.js";
