export { approvalsRoutes } from "./approvals.js";
export { healthRoutes } from "./health.js";
export { metricsRoutes } from "./metrics.js";
export { SSF_EVENTS_PATH, ssfRoutes } from "./ssf.js";
export { buildAdminApp, startAdminServer, type AdminRefusalReason, type AdminRoutes, type AdminServerOptions, type RunningAdmin } from "./server.js";
export { forwardRoutes } from "./forward.js";
