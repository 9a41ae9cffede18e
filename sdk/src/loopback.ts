// Whether a host names this machine only, where plaintext never leaves it: the gRPC
// client's default TLS and the MCP metadata's http resource both ask. (Verdict's own
// listeners ask src/server/loopback.ts, the same rule: the SDK shares only the wire.)

/** 127.0.0.0/8, localhost, ::1 (bracketed or not). */
export const isLoopbackHost = (host: string): boolean => host === "localhost" || host === "::1" || host === "[::1]" || /^127(\.\d{1,3}){3}$/.test(host);
