export { AUDIT_SERVICE_NAME, auditQueryHandler, encodeRecord } from "./audit-service.js";
export { API_KEY_HEADER, CallerRegistry, hashApiKey } from "./callers.js";
export { encodeCheckResponse } from "./encode.js";
export { SERVICE_NAME, startGrpcServer, type RunningGrpcServer } from "./grpc.js";
export { startVerdict, type RunningVerdict, type StartOptions } from "./start.js";
export { InvalidArgumentError, LIMITS, validateCheckRequest, type ValidatedCheck } from "./validate.js";
