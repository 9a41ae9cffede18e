// The console's JSON API as a browser would call it: fetch on a test Verdict's admin
// listener, with console tokens from the test issuer (the console's audience).
import type { TestIssuer } from "./issuer.js";

export const CONSOLE_AUDIENCE = "urn:verdict:console";
export const ALL_CONSOLE_SCOPES = "console:read console:approve console:suspend console:evaluate";

/** A console token: the operator "ops-1" of the web client "verdict-console", with `scope`. */
export function consoleToken(issuer: TestIssuer, scope: string = ALL_CONSOLE_SCOPES, claims: Record<string, unknown> = {}): Promise<string> {
  return issuer.token({ aud: CONSOLE_AUDIENCE, sub: "ops-1", client_id: "verdict-console", scope, ...claims });
}

export interface ConsoleAnswer {
  status: number;
  headers: Headers;
  body: Record<string, unknown>;
  text: string;
}

/** `body`: an object is sent as JSON; a string as is (JSON that JSON.stringify could not write, such as 10,000 nested arrays). */
export async function consoleCall(
  baseUrl: string,
  path: string,
  { token, method = "GET", body, headers = {} }: { token?: string; method?: string; body?: unknown; headers?: Record<string, string> } = {},
): Promise<ConsoleAnswer> {
  const response = await fetch(`${baseUrl}${path}`, {
    method,
    redirect: "manual",
    headers: {
      ...(token ? { authorization: `Bearer ${token}` } : {}),
      ...(body !== undefined ? { "content-type": "application/json" } : {}),
      ...headers,
    },
    ...(body !== undefined ? { body: typeof body === "string" ? body : JSON.stringify(body) } : {}),
  });
  const text = await response.text();
  let parsed: Record<string, unknown> = {};
  try {
    parsed = JSON.parse(text) as Record<string, unknown>;
  } catch {
    // a page or plain text
  }
  return { status: response.status, headers: response.headers, body: parsed, text };
}
