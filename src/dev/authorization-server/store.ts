// What the development authorization server keeps, in memory only (a restart
// forgets registrations; clients register again): registered clients,
// authorization codes, and browser sessions (who signed in, how, when), which a
// step-up raises and the next authorization reuses. Every map is bounded.
import { createHash, randomBytes, timingSafeEqual } from "node:crypto";

export interface RegisteredClient {
  clientId: string;
  clientName?: string;
  redirectUris: string[];
  grantTypes: string[];
  /** Put in the tokens' client_type: MCP clients registered here are AI agents. */
  clientType: string;
  issuedAt: number;
}

export interface Authentication {
  acr: string;
  /** Epoch seconds. */
  authTime: number;
}

export interface AuthorizationCode {
  clientId: string;
  redirectUri: string;
  codeChallenge: string;
  scopes: string[];
  resource: string;
  subject: string;
  authentication: Authentication;
  expiresAt: number;
}

export interface Session extends Authentication {
  subject: string;
}

const CODE_TTL_SECONDS = 60;
const SESSION_TTL_SECONDS = 3_600;
const MAX_ENTRIES = 10_000;

class Bounded<V> extends Map<string, V> {
  override set(key: string, value: V): this {
    super.delete(key);
    super.set(key, value);
    while (this.size > MAX_ENTRIES) this.delete(this.keys().next().value as string);
    return this;
  }
}

const nowSeconds = () => Math.floor(Date.now() / 1000);
const secret = (prefix: string) => `${prefix}_${randomBytes(32).toString("base64url")}`;
// Codes and sessions are kept by their hash: a dump of the map holds nothing usable.
const digest = (value: string) => createHash("sha256").update(value).digest("base64url");

export class DevAuthorizationStore {
  private readonly clients = new Bounded<RegisteredClient>();
  private readonly codes = new Bounded<AuthorizationCode>();
  private readonly sessions = new Bounded<Session & { expiresAt: number }>();

  register(client: Omit<RegisteredClient, "clientId" | "issuedAt">): RegisteredClient {
    const registered = { ...client, clientId: `dev-client-${randomBytes(12).toString("hex")}`, issuedAt: nowSeconds() };
    this.clients.set(registered.clientId, registered);
    return registered;
  }

  client(clientId: string): RegisteredClient | undefined {
    return this.clients.get(clientId);
  }

  /** The user signed in (at the authorization endpoint or the step-up page): a new browser session, its cookie value. */
  signIn(subject: string, acr: string): { cookie: string; session: Session } {
    const cookie = secret("session");
    const session = { subject, acr, authTime: nowSeconds() };
    this.sessions.set(digest(cookie), { ...session, expiresAt: nowSeconds() + SESSION_TTL_SECONDS });
    return { cookie, session };
  }

  session(cookie: string | undefined): Session | undefined {
    if (cookie === undefined) return undefined;
    const entry = this.sessions.get(digest(cookie));
    if (!entry || entry.expiresAt <= nowSeconds()) return undefined;
    return { subject: entry.subject, acr: entry.acr, authTime: entry.authTime };
  }

  issueCode(code: Omit<AuthorizationCode, "expiresAt">): string {
    const value = secret("code");
    this.codes.set(digest(value), { ...code, expiresAt: nowSeconds() + CODE_TTL_SECONDS });
    return value;
  }

  /** A code is used once, whatever the outcome (RFC 6749 §4.1.2). */
  takeCode(value: string): AuthorizationCode | undefined {
    const key = digest(value);
    const code = this.codes.get(key);
    this.codes.delete(key);
    return code && code.expiresAt > nowSeconds() ? code : undefined;
  }
}

/** RFC 7636 S256: BASE64URL(SHA256(verifier)) equals the challenge. */
export function pkceMatches(verifier: string, challenge: string): boolean {
  if (!/^[A-Za-z0-9\-._~]{43,128}$/.test(verifier)) return false;
  const computed = Buffer.from(createHash("sha256").update(verifier).digest("base64url"));
  const expected = Buffer.from(challenge);
  return computed.length === expected.length && timingSafeEqual(computed, expected);
}
