export { toHttpAnswer, APPROVAL_HEADER, DEFAULT_RETRY_AFTER_SECONDS, type ChallengeOptions, type HttpAnswer, type Outcome } from "./challenge.js";
export {
  isEncrypted,
  readApprovalId,
  readCredentials,
  readRequestId,
  readTraceContext,
  requestUrl,
  parsePublicBaseUrl,
  type Credentials,
  type HttpHeaders,
  type HttpRequestLike,
} from "./request.js";
export { createGuard, verdictOf, type Guard, type GuardOptions, type GuardResult, type RouteRule, type VerdictContext } from "./guard.js";
export { verdictExpress, writeNodeAnswer, type ExpressLikeRequest, type ExpressMiddleware, type NextFunction, type NodeLikeResponse } from "./express.js";
export { verdictFastify, type FastifyLikeReply, type FastifyLikeRequest } from "./fastify.js";
