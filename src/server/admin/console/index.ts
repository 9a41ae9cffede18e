export { CONSOLE_SCOPES, consoleSettings, type ConsoleConfig, type ConsoleScope } from "./config.js";
export { CONSOLE_MAX_IN_FLIGHT, CONSOLE_PAGE_LIMIT, consoleRoutes, LIST_TTL_MS, SUMMARY_TTL_MS, type ConsoleOptions } from "./routes.js";
export type { ConsoleApproval, ConsoleApprovals, ConsoleParts, ConsoleSuspension, ConsoleSuspensions, DevSignIn, Operator } from "./ports.js";
export { consoleApprovals, consoleSuspensions, type ApprovalsLike, type SuspensionsLike } from "./adapters.js";
export { CONTENT_SECURITY_POLICY } from "./security.js";
export { CONSOLE_DIST, loadConsoleFiles } from "./static.js";
export { LATE_WRITE_MS, LIVE_FULL_READ_MS, LiveSamples, liveSampleLag, type LiveSampleOptions, type SampleSource } from "./live-sample.js";
