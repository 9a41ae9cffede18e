// The development authorization server: enough OAuth 2.1 for an MCP client (the
// official SDK's OAuth client provider) to find it and get tokens Verdict's
// development profile accepts. RFC 8414 metadata, RFC 7591 dynamic registration
// (public clients, loopback or https redirects), the authorization code grant with
// PKCE S256 only, RFC 8707 resource indicators (the token's aud), and a step-up
// page. Signing in (or stepping up) opens a browser session, and the next
// authorization reuses it, with its acr and auth_time, as an identity provider's
// single sign-on does. No refresh tokens: the official MCP TypeScript client (1.32)
// answers a scope challenge by refreshing without the new scopes when it holds one,
// so every challenge ends in a new authorization instead. Tokens are RFC 9068 JWTs
// signed with the same key as `verdict dev-token`. Loopback only; development only:
// its pages take forms from themselves only, and sites elsewhere register no
// redirects to themselves (own-pages.ts).
import formbody from "@fastify/formbody";
import Fastify, { type FastifyInstance, type FastifyReply } from "fastify";
import { ensureDevIssuerKey, mintDevToken } from "../issuer.js";
import { fromForeignPage, loopbackHostOnly, ownPagesOnly } from "./own-pages.js";
import { donePage, errorPage, signInPage, stepUpPage } from "./pages.js";
import { DevAuthorizationStore, pkceMatches, type RegisteredClient, type Session } from "./store.js";

export interface DevAuthorizationServerOptions {
  stateDir: string;
  /** A loopback address; port 0 picks a free one. */
  host: string;
  port: number;
  /** scopes_supported: what clients may ask for. */
  scopes: string[];
  /** The authentication levels users may choose (the demo policy's settings.acr_levels). */
  acrLevels: Record<string, number>;
  /** The token's audience when a client names no resource. */
  defaultAudience: string;
  /** Lifetime of access tokens (default 900 s). */
  tokenTtlSeconds?: number;
  /** client_type of the clients that register here (default "ai-agent": MCP clients act for a user). */
  clientType?: string;
}

export interface DevAuthorizationServer {
  /** The issuer identifier, an http URL on loopback (RFC 8414 §2); the tokens' iss. */
  issuer: string;
  close(): Promise<void>;
}

const LOOPBACK_HOSTS = new Set(["127.0.0.1", "localhost", "::1", "[::1]"]);

function isLoopbackOrHttps(value: string): boolean {
  try {
    const url = new URL(value);
    if (url.hash !== "") return false;
    return url.protocol === "https:" || (url.protocol === "http:" && LOOPBACK_HOSTS.has(url.hostname));
  } catch {
    return false;
  }
}

/** An http or https redirect URI on this machine (already known to parse). */
const isLoopbackRedirect = (value: string): boolean => LOOPBACK_HOSTS.has(new URL(value).hostname);

const registerSchema = {
  type: "object",
  required: ["redirect_uris"],
  properties: {
    redirect_uris: { type: "array", minItems: 1, maxItems: 10, items: { type: "string", maxLength: 2048 } },
    client_name: { type: "string", maxLength: 200 },
    token_endpoint_auth_method: { type: "string", enum: ["none"] },
    grant_types: { type: "array", items: { type: "string" } },
    response_types: { type: "array", items: { type: "string", enum: ["code"] } },
    scope: { type: "string", maxLength: 2048 },
  },
} as const;

const text = { type: "string", maxLength: 4096 } as const;
const authorizeSchema = {
  type: "object",
  properties: {
    response_type: text,
    client_id: text,
    redirect_uri: text,
    code_challenge: text,
    code_challenge_method: text,
    state: text,
    scope: text,
    resource: text,
    acr_values: text,
    max_age: text,
    prompt: text,
    subject: { type: "string", maxLength: 256 },
    acr: { type: "string", maxLength: 64 },
    decision: { type: "string", enum: ["allow", "deny"] },
    use_session: { type: "string", enum: ["yes"] },
  },
} as const;

const tokenSchema = {
  type: "object",
  required: ["grant_type"],
  properties: {
    grant_type: text,
    code: text,
    code_verifier: text,
    redirect_uri: text,
    client_id: text,
    resource: text,
  },
} as const;

type Fields = Partial<Record<keyof (typeof authorizeSchema)["properties"], string>>;
type TokenFields = Partial<Record<keyof (typeof tokenSchema)["properties"], string>>;

/** What a browser client calls cross-origin: the metadata, the keys, registration and the token endpoint. */
const CORS_PATHS = new Set(["/.well-known/oauth-authorization-server", "/.well-known/openid-configuration", "/jwks.json", "/register", "/token"]);

const SESSION_COOKIE = "verdict_dev_session";

function sessionCookie(header: string | undefined): string | undefined {
  const match = new RegExp(`(?:^|;\\s*)${SESSION_COOKIE}=([A-Za-z0-9_-]+)`).exec(header ?? "");
  return match?.[1];
}

function setSession(reply: FastifyReply, cookie: string): void {
  void reply.header("set-cookie", `${SESSION_COOKIE}=${cookie}; Path=/; HttpOnly; SameSite=Lax; Max-Age=3600`);
}

export async function startDevAuthorizationServer(options: DevAuthorizationServerOptions): Promise<DevAuthorizationServer> {
  if (!LOOPBACK_HOSTS.has(options.host)) throw new Error(`the development authorization server listens on loopback only, not ${options.host}`);
  const store = new DevAuthorizationStore();
  const ttl = options.tokenTtlSeconds ?? 900;
  const clientType = options.clientType ?? "ai-agent";
  const key = await ensureDevIssuerKey(options.stateDir);
  const publicJwk = key.publicJwk;
  const app: FastifyInstance = Fastify({ logger: false, bodyLimit: 64 * 1024 });
  await app.register(formbody);
  let issuer = "";

  // Browser-based MCP clients (the MCP Inspector) call these cross-origin (no cookies: PKCE only).
  // The pages are never fetched, only navigated to: no CORS, and no frame (a framed form is same-origin).
  app.addHook("onRequest", async (req, reply) => {
    if (!CORS_PATHS.has(req.url.split("?", 1)[0] ?? "")) return;
    reply.header("access-control-allow-origin", "*");
    if (req.method === "OPTIONS") {
      reply
        .header("access-control-allow-methods", "GET, POST, OPTIONS")
        .header("access-control-allow-headers", "content-type, authorization, mcp-protocol-version");
      return reply.code(204).send();
    }
  });
  app.addHook("onSend", async (_req, reply) => {
    reply.header("cache-control", "no-store").header("x-frame-options", "DENY").header("content-security-policy", "frame-ancestors 'none'");
  });

  const metadata = () => ({
    issuer,
    authorization_endpoint: `${issuer}/authorize`,
    token_endpoint: `${issuer}/token`,
    registration_endpoint: `${issuer}/register`,
    jwks_uri: `${issuer}/jwks.json`,
    response_types_supported: ["code"],
    response_modes_supported: ["query"],
    grant_types_supported: ["authorization_code"],
    code_challenge_methods_supported: ["S256"],
    token_endpoint_auth_methods_supported: ["none"],
    scopes_supported: options.scopes,
    acr_values_supported: Object.keys(options.acrLevels),
    authorization_response_iss_parameter_supported: true,
    // Not a registered metadata name: where a user raises their authentication for one client (URL elicitation).
    verdict_step_up_endpoint: `${issuer}/step-up`,
  });
  app.get("/.well-known/oauth-authorization-server", () => Promise.resolve(metadata()));
  app.get("/.well-known/openid-configuration", () => Promise.resolve(metadata()));
  app.get("/jwks.json", () => Promise.resolve({ keys: [publicJwk] }));

  app.post("/register", { schema: { body: registerSchema } }, async (req, reply) => {
    const body = req.body as { redirect_uris: string[]; client_name?: string; grant_types?: string[] };
    const bad = body.redirect_uris.find((uri) => !isLoopbackOrHttps(uri));
    if (bad !== undefined)
      return reply.code(400).send({ error: "invalid_redirect_uri", error_description: `redirect URIs must be https, or http on loopback: ${bad}` });
    // Else any site the developer visits could register a redirect to itself, and send them to consent to it.
    const remote = fromForeignPage(req) ? body.redirect_uris.find((uri) => !isLoopbackRedirect(uri)) : undefined;
    if (remote !== undefined)
      return reply.code(400).send({
        error: "invalid_redirect_uri",
        error_description: `a web page served from elsewhere than this machine (${req.headers.origin ?? ""}) may register loopback redirect URIs only: ${remote}`,
      });
    if (body.grant_types && !body.grant_types.includes("authorization_code"))
      return reply.code(400).send({ error: "invalid_client_metadata", error_description: "grant_types must include authorization_code" });
    const client = store.register({
      redirectUris: body.redirect_uris,
      grantTypes: ["authorization_code"],
      clientType,
      ...(body.client_name !== undefined ? { clientName: body.client_name } : {}),
    });
    return reply.code(201).send({
      client_id: client.clientId,
      client_id_issued_at: client.issuedAt,
      redirect_uris: client.redirectUris,
      grant_types: client.grantTypes,
      response_types: ["code"],
      token_endpoint_auth_method: "none",
      ...(client.clientName !== undefined ? { client_name: client.clientName } : {}),
    });
  });

  /** Checks an authorization request; errors the redirect cannot be trusted for are shown, the others redirected (RFC 6749 §4.1.2.1). */
  function checkAuthorization(
    fields: Fields,
    reply: FastifyReply,
  ): { client: RegisteredClient; redirect: URL; scopes: string[]; resource: string } | undefined {
    const client = fields.client_id ? store.client(fields.client_id) : undefined;
    if (!client) {
      void reply.code(400).type("text/html").send(errorPage("Unknown client_id: register the client first (dynamic client registration)."));
      return undefined;
    }
    if (!fields.redirect_uri || !client.redirectUris.includes(fields.redirect_uri)) {
      void reply.code(400).type("text/html").send(errorPage("redirect_uri is not one this client registered."));
      return undefined;
    }
    const redirect = new URL(fields.redirect_uri);
    const fail = (error: string, description: string) => {
      redirect.searchParams.set("error", error);
      redirect.searchParams.set("error_description", description);
      if (fields.state !== undefined) redirect.searchParams.set("state", fields.state);
      redirect.searchParams.set("iss", issuer);
      void reply.redirect(redirect.href, 302);
      return undefined;
    };
    if (fields.response_type !== "code") return fail("unsupported_response_type", "only response_type=code");
    if (!fields.code_challenge || fields.code_challenge_method !== "S256") return fail("invalid_request", "PKCE with code_challenge_method=S256 is required");
    const scopes = (fields.scope ?? "").split(" ").filter((s) => s !== "");
    const unknown = scopes.filter((s) => !options.scopes.includes(s));
    if (unknown.length > 0) return fail("invalid_scope", `unknown scopes: ${unknown.join(" ")}`);
    const resource = fields.resource ?? options.defaultAudience;
    if (fields.resource !== undefined && !/^(https?:\/\/[^#]+|urn:[^#]+)$/.test(fields.resource))
      return fail("invalid_target", "resource must be an absolute URI without fragment");
    return { client, redirect, scopes, resource };
  }

  const preferredAcr = (acrValues: string | undefined): string | undefined => {
    const known = (acrValues ?? "").split(" ").filter((acr) => acr in options.acrLevels);
    if (known.length > 0) return known.sort((a, b) => options.acrLevels[b]! - options.acrLevels[a]!)[0];
    return Object.entries(options.acrLevels).sort(([, a], [, b]) => a - b)[0]?.[0];
  };

  app.get("/authorize", { onRequest: loopbackHostOnly, schema: { querystring: authorizeSchema } }, async (req, reply) => {
    const fields = req.query as Fields;
    const checked = checkAuthorization(fields, reply);
    if (!checked) return reply;
    const { subject: _s, acr: _a, decision: _d, use_session: _u, ...request } = fields;
    const session = store.session(sessionCookie(req.headers.cookie));
    return reply.type("text/html").send(
      signInPage({
        clientName: checked.client.clientName ?? checked.client.clientId,
        redirectHost: checked.redirect.host,
        scopes: checked.scopes,
        resource: checked.resource,
        acrLevels: options.acrLevels,
        preferredAcr: preferredAcr(fields.acr_values),
        session,
        fields: request,
      }),
    );
  });

  app.post("/authorize", { onRequest: ownPagesOnly, schema: { body: authorizeSchema } }, async (req, reply) => {
    const fields = req.body as Fields;
    const checked = checkAuthorization(fields, reply);
    if (!checked) return reply;
    const { redirect } = checked;
    if (fields.state !== undefined) redirect.searchParams.set("state", fields.state);
    redirect.searchParams.set("iss", issuer);
    if (fields.decision !== "allow") {
      redirect.searchParams.set("error", "access_denied");
      return reply.redirect(redirect.href, 302);
    }
    let session: Session | undefined = fields.use_session === "yes" ? store.session(sessionCookie(req.headers.cookie)) : undefined;
    if (!session) {
      // A new sign-in; "continue" keeps the session's authentication (its acr and auth_time).
      const subject = fields.subject?.trim() ?? "";
      if (subject === "" || !fields.acr || !(fields.acr in options.acrLevels)) {
        return reply.code(400).type("text/html").send(errorPage("Choose a user and an authentication level."));
      }
      const signedIn = store.signIn(subject, fields.acr);
      setSession(reply, signedIn.cookie);
      session = signedIn.session;
    }
    const { subject, ...authentication } = session;
    const code = store.issueCode({
      clientId: checked.client.clientId,
      redirectUri: fields.redirect_uri!,
      codeChallenge: fields.code_challenge!,
      scopes: checked.scopes,
      resource: checked.resource,
      subject,
      authentication,
    });
    redirect.searchParams.set("code", code);
    return reply.redirect(redirect.href, 302);
  });

  app.post("/token", { schema: { body: tokenSchema } }, async (req, reply) => {
    const fields = req.body as TokenFields;
    const fail = (status: number, error: string, description: string) => reply.code(status).send({ error, error_description: description });
    const client = fields.client_id ? store.client(fields.client_id) : undefined;
    if (!client) return fail(401, "invalid_client", "unknown client_id");

    if (fields.grant_type !== "authorization_code") return fail(400, "unsupported_grant_type", "only authorization_code");
    const code = fields.code ? store.takeCode(fields.code) : undefined;
    if (!code || code.clientId !== client.clientId) return fail(400, "invalid_grant", "the code is unknown, used or expired");
    if (fields.redirect_uri !== code.redirectUri) return fail(400, "invalid_grant", "redirect_uri differs from the authorization request's");
    if (!fields.code_verifier || !pkceMatches(fields.code_verifier, code.codeChallenge))
      return fail(400, "invalid_grant", "code_verifier does not match the code_challenge");
    if (fields.resource !== undefined && fields.resource !== code.resource)
      return fail(400, "invalid_target", "resource differs from the authorization request's");

    const accessToken = await mintDevToken(options.stateDir, {
      issuer,
      subject: code.subject,
      clientId: client.clientId,
      clientType: client.clientType,
      scopes: code.scopes,
      audience: code.resource,
      ttlSeconds: ttl,
      acr: code.authentication.acr,
      authTime: code.authentication.authTime,
    });
    return reply.send({ access_token: accessToken, token_type: "Bearer", expires_in: ttl, scope: code.scopes.join(" ") });
  });

  app.get("/step-up", { onRequest: loopbackHostOnly, schema: { querystring: authorizeSchema } }, async (req, reply) => {
    const fields = req.query as Fields & { elicitation_id?: string };
    const client = fields.client_id ? store.client(fields.client_id) : undefined;
    if (!client) return reply.code(400).type("text/html").send(errorPage("Unknown client_id."));
    return reply.type("text/html").send(
      stepUpPage({
        clientName: client.clientName ?? client.clientId,
        acrLevels: options.acrLevels,
        preferredAcr: preferredAcr(fields.acr_values),
        fields: { client_id: client.clientId },
      }),
    );
  });

  app.post("/step-up", { onRequest: ownPagesOnly, schema: { body: authorizeSchema } }, async (req, reply) => {
    const fields = req.body as Fields;
    const client = fields.client_id ? store.client(fields.client_id) : undefined;
    const subject = fields.subject?.trim() ?? "";
    if (!client || subject === "" || !fields.acr || !(fields.acr in options.acrLevels)) {
      return reply.code(400).type("text/html").send(errorPage("Choose a user and an authentication level."));
    }
    // Bound to whoever signs in here, never to the link: a link opened by someone else raises their own session.
    setSession(reply, store.signIn(subject, fields.acr).cookie);
    return reply
      .type("text/html")
      .send(
        donePage(
          `Signed in as ${subject} (${fields.acr}). Go back to ${client.clientName ?? client.clientId} and retry: its next sign-in here continues this one.`,
        ),
      );
  });

  await app.listen({ host: options.host, port: options.port });
  const address = app.server.address();
  if (!address || typeof address === "string") throw new Error("the development authorization server has no address");
  const host = address.family === "IPv6" ? `[${address.address}]` : address.address;
  issuer = `http://${host}:${address.port}`;
  return { issuer, close: () => app.close() };
}
