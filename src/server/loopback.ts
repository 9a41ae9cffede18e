// Whether a listener's host (or a request's Host name, or a URL's) is this machine only.

/** 127.0.0.0/8 (as the SDK and `verdict check` count it), localhost, ::1 (bracketed or not). */
export const isLoopback = (host: string): boolean => host === "localhost" || host === "::1" || host === "[::1]" || /^127(\.\d{1,3}){3}$/.test(host);

/** A Host header's name or address and optional port: `localhost:9464`, `[::1]`. */
const HOST_HEADER = /^(\[[0-9A-Fa-f:.]+\]|[^:[\]]+)(:\d{1,5})?$/;

/**
 * Whether a request's Host header names this machine (any port). A page whose DNS name
 * was rebound to 127.0.0.1 reaches a loopback listener with its own name in Host.
 */
export function hostHeaderIsLoopback(host: string | undefined): boolean {
  const name = HOST_HEADER.exec(host ?? "")?.[1]?.toLowerCase();
  return name !== undefined && isLoopback(name);
}

/** A plain http:// URL to a host beyond loopback: what it carries travels in clear (false for no URL: refused as such). */
export function plaintextBeyondLoopback(value: string): boolean {
  if (!URL.canParse(value)) return false;
  const url = new URL(value);
  return url.protocol === "http:" && !isLoopback(url.hostname);
}
