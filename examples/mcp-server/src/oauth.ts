// An MCP client's side of OAuth for a command-line agent: the official SDK's
// OAuthClientProvider kept in memory, and a loopback page that receives the
// authorization code (RFC 8252 §7.3). The SDK does discovery (RFC 9728, RFC 8414),
// dynamic registration, PKCE and the token request; this only stores and opens.
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import type { OAuthClientProvider, OAuthDiscoveryState } from "@modelcontextprotocol/sdk/client/auth.js";
import type { OAuthClientInformationMixed, OAuthClientMetadata, OAuthTokens } from "@modelcontextprotocol/sdk/shared/auth.js";

export class InMemoryOAuthClientProvider implements OAuthClientProvider {
  private client: OAuthClientInformationMixed | undefined;
  private saved: OAuthTokens | undefined;
  private verifier: string | undefined;
  private discovery: OAuthDiscoveryState | undefined;

  constructor(
    private readonly callbackUrl: string,
    private readonly clientName: string,
    /** Shows the user the authorization URL (opens a browser, prints it). */
    private readonly open: (url: URL) => void | Promise<void>,
  ) {}

  get redirectUrl(): string {
    return this.callbackUrl;
  }

  get clientMetadata(): OAuthClientMetadata {
    return {
      client_name: this.clientName,
      redirect_uris: [this.callbackUrl],
      grant_types: ["authorization_code"],
      response_types: ["code"],
      token_endpoint_auth_method: "none",
    };
  }

  clientInformation() {
    return this.client;
  }
  saveClientInformation(client: OAuthClientInformationMixed) {
    this.client = client;
  }
  tokens() {
    return this.saved;
  }
  saveTokens(tokens: OAuthTokens) {
    this.saved = tokens;
  }
  async redirectToAuthorization(url: URL) {
    await this.open(url);
  }
  saveCodeVerifier(verifier: string) {
    this.verifier = verifier;
  }
  codeVerifier() {
    if (this.verifier === undefined) throw new Error("no PKCE verifier saved");
    return this.verifier;
  }
  saveDiscoveryState(state: OAuthDiscoveryState) {
    this.discovery = state;
  }
  discoveryState() {
    return this.discovery;
  }
  invalidateCredentials(scope: "all" | "client" | "tokens" | "verifier" | "discovery") {
    if (scope === "all" || scope === "client") this.client = undefined;
    if (scope === "all" || scope === "tokens") this.saved = undefined;
    if (scope === "all" || scope === "verifier") this.verifier = undefined;
    if (scope === "all" || scope === "discovery") this.discovery = undefined;
  }
}

export interface CallbackReceiver {
  url: string;
  /** The next authorization code delivered to the callback (rejects on an error redirect). */
  next(): Promise<string>;
  close(): Promise<void>;
}

/** A loopback HTTP page the authorization server redirects the browser to. */
export async function receiveCallbacks(port = 0): Promise<CallbackReceiver> {
  const waiting: { resolve: (code: string) => void; reject: (error: Error) => void }[] = [];
  const arrived: (string | Error)[] = [];
  const deliver = (value: string | Error) => {
    const waiter = waiting.shift();
    if (!waiter) arrived.push(value);
    else if (typeof value === "string") waiter.resolve(value);
    else waiter.reject(value);
  };
  const server: Server = createServer((req, res) => {
    const url = new URL(req.url ?? "/", "http://127.0.0.1");
    if (url.pathname !== "/callback") {
      res.writeHead(404).end();
      return;
    }
    const code = url.searchParams.get("code");
    res.writeHead(200, { "content-type": "text/plain; charset=utf-8" }).end(code ? "Signed in. You can close this tab." : "Authorization failed.");
    deliver(code ?? new Error(`authorization failed: ${url.searchParams.get("error") ?? "no code"}`));
  });
  await new Promise<void>((resolve) => server.listen(port, "127.0.0.1", resolve));
  const { port: bound } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${bound}/callback`,
    next: () => {
      const value = arrived.shift();
      if (value !== undefined) return typeof value === "string" ? Promise.resolve(value) : Promise.reject(value);
      return new Promise((resolve, reject) => waiting.push({ resolve, reject }));
    },
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}
