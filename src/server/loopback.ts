// Whether a listener's host (or a request's Host name) is this machine only.

/** 127.0.0.0/8 (as the SDK and `verdict check` count it), localhost, ::1 (bracketed or not). */
export const isLoopback = (host: string): boolean => host === "localhost" || host === "::1" || host === "[::1]" || /^127(\.\d{1,3}){3}$/.test(host);
