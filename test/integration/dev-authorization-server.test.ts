// The development authorization server's OAuth rules, over HTTP on loopback: what
// it refuses (unknown clients, foreign redirects, missing or wrong PKCE, reused
// codes, forms and registrations from other web pages) and that its tokens are
// RFC 9068 JWTs for the requested resource.
import { createHash, randomBytes } from "node:crypto";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { decodeJwt, decodeProtectedHeader } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startDevAuthorizationServer, type DevAuthorizationServer } from "../../src/dev/index.js";
import { AuthzenClient } from "../support/authzen.js";

let server: DevAuthorizationServer;
const redirect = "http://127.0.0.1:9/callback";
const verifier = randomBytes(32).toString("base64url");
const challenge = createHash("sha256").update(verifier).digest("base64url");

beforeAll(async () => {
  server = await startDevAuthorizationServer({
    stateDir: mkdtempSync(join(tmpdir(), "verdict-dev-as-")),
    host: "127.0.0.1",
    port: 0,
    scopes: ["invoices:read", "invoices:write"],
    acrLevels: { pwd: 1, mfa: 2 },
    defaultAudience: "urn:verdict:dev-api",
  });
});
afterAll(async () => server?.close());

async function register(
  body: Record<string, unknown> = { redirect_uris: [redirect], client_name: "t" },
  headers: Record<string, string> = {},
): Promise<Response> {
  return fetch(`${server.issuer}/register`, { method: "POST", headers: { "content-type": "application/json", ...headers }, body: JSON.stringify(body) });
}

const form = (url: string, fields: Record<string, string>, headers: Record<string, string> = {}) =>
  fetch(url, {
    method: "POST",
    redirect: "manual",
    headers: { "content-type": "application/x-www-form-urlencoded", ...headers },
    body: new URLSearchParams(fields).toString(),
  });

/** What a browser sends with a form POST from a page at `origin` (Node's fetch sends neither header). */
const submittedFrom = (origin: string) => ({ origin, "sec-fetch-site": origin === server.issuer ? "same-origin" : "cross-site", "sec-fetch-mode": "navigate" });

function authorization(clientId: string, extra: Record<string, string> = {}): Record<string, string> {
  return {
    response_type: "code",
    client_id: clientId,
    redirect_uri: redirect,
    code_challenge: challenge,
    code_challenge_method: "S256",
    state: "s1",
    scope: "invoices:read",
    resource: "http://127.0.0.1:3001/mcp",
    ...extra,
  };
}

async function signIn(clientId: string, extra: Record<string, string> = {}): Promise<URL> {
  const answer = await form(`${server.issuer}/authorize`, { ...authorization(clientId, extra), subject: "alice", acr: "mfa", decision: "allow" });
  expect(answer.status).toBe(302);
  return new URL(answer.headers.get("location")!);
}

describe("the development authorization server", () => {
  it("publishes RFC 8414 metadata with PKCE S256 and its loopback issuer", async () => {
    const metadata = (await (await fetch(`${server.issuer}/.well-known/oauth-authorization-server`)).json()) as Record<string, unknown>;
    expect(metadata).toMatchObject({
      issuer: server.issuer,
      code_challenge_methods_supported: ["S256"],
      registration_endpoint: `${server.issuer}/register`,
      token_endpoint_auth_methods_supported: ["none"],
    });
    expect(server.issuer).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
  });

  it("listens on loopback only", async () => {
    await expect(
      startDevAuthorizationServer({
        stateDir: mkdtempSync(join(tmpdir(), "verdict-dev-as-")),
        host: "0.0.0.0",
        port: 0,
        scopes: [],
        acrLevels: {},
        defaultAudience: "urn:x",
      }),
    ).rejects.toThrow(/loopback only/);
  });

  it("refuses to register a redirect that is neither https nor loopback", async () => {
    const res = await register({ redirect_uris: ["http://evil.example/cb"] });
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({ error: "invalid_redirect_uri" });
    expect((await register({})).status).toBe(400);
  });

  it("issues an RFC 9068 token for the resource once, to the holder of the PKCE verifier", async () => {
    const { client_id: clientId } = (await (await register()).json()) as { client_id: string };
    const back = await signIn(clientId);
    expect(back.searchParams.get("state")).toBe("s1");
    expect(back.searchParams.get("iss")).toBe(server.issuer);
    const code = back.searchParams.get("code")!;
    const token = (fields: Record<string, string>) =>
      form(`${server.issuer}/token`, { grant_type: "authorization_code", client_id: clientId, redirect_uri: redirect, code, ...fields });

    const wrong = await token({ code_verifier: randomBytes(32).toString("base64url") });
    expect(wrong.status).toBe(400);
    expect(await wrong.json()).toMatchObject({ error: "invalid_grant" });
    // A refused exchange spent the code: the right verifier comes too late.
    expect((await token({ code_verifier: verifier })).status).toBe(400);

    const fresh = (await signIn(clientId)).searchParams.get("code")!;
    const ok = await form(`${server.issuer}/token`, {
      grant_type: "authorization_code",
      client_id: clientId,
      redirect_uri: redirect,
      code: fresh,
      code_verifier: verifier,
    });
    expect(ok.status).toBe(200);
    const body = (await ok.json()) as { access_token: string; token_type: string; refresh_token?: string };
    expect(body.token_type).toBe("Bearer");
    expect(body.refresh_token).toBeUndefined();
    expect(decodeProtectedHeader(body.access_token)).toMatchObject({ typ: "at+jwt", alg: "ES256" });
    expect(decodeJwt(body.access_token)).toMatchObject({
      iss: server.issuer,
      sub: "alice",
      aud: "http://127.0.0.1:3001/mcp",
      client_id: clientId,
      scope: "invoices:read",
      acr: "mfa",
      client_type: "ai-agent",
    });
  });

  it("refuses an authorization request without PKCE, with an unknown scope, or for an unregistered redirect", async () => {
    const { client_id: clientId } = (await (await register()).json()) as { client_id: string };
    const noPkce = await fetch(`${server.issuer}/authorize?${String(new URLSearchParams({ ...authorization(clientId), code_challenge_method: "plain" }))}`, {
      redirect: "manual",
    });
    expect(noPkce.status).toBe(302);
    expect(new URL(noPkce.headers.get("location")!).searchParams.get("error")).toBe("invalid_request");
    const scope = await fetch(`${server.issuer}/authorize?${String(new URLSearchParams(authorization(clientId, { scope: "admin" })))}`, { redirect: "manual" });
    expect(new URL(scope.headers.get("location")!).searchParams.get("error")).toBe("invalid_scope");
    // Never redirect to a URI the client did not register (RFC 6749 §4.1.2.1): shown, not followed.
    const foreign = await fetch(
      `${server.issuer}/authorize?${String(new URLSearchParams(authorization(clientId, { redirect_uri: "http://127.0.0.1:9/other" })))}`,
      { redirect: "manual" },
    );
    expect(foreign.status).toBe(400);
    expect((await fetch(`${server.issuer}/authorize?${String(new URLSearchParams(authorization("nobody")))}`)).status).toBe(400);
  });

  it("refuses a sign-in and consent form posted from another web page: 403 cross_origin_refused, no code", async () => {
    const { client_id: clientId } = (await (await register()).json()) as { client_id: string };
    const signIn = { ...authorization(clientId), subject: "alice", acr: "mfa", decision: "allow" };
    const foreign = await form(`${server.issuer}/authorize`, signIn, submittedFrom("https://evil.example"));
    expect(foreign.status).toBe(403);
    expect(foreign.headers.get("location")).toBeNull();
    expect(await foreign.json()).toMatchObject({ error: "cross_origin_refused" });
    // A browser that sends only its fetch metadata, or an opaque origin, is refused too.
    expect((await form(`${server.issuer}/authorize`, signIn, { "sec-fetch-site": "cross-site" })).status).toBe(403);
    expect((await form(`${server.issuer}/authorize`, signIn, { origin: "null" })).status).toBe(403);
    const stepUp = await form(`${server.issuer}/step-up`, { client_id: clientId, subject: "alice", acr: "mfa" }, submittedFrom("https://evil.example"));
    expect(stepUp.status).toBe(403);
    expect(stepUp.headers.get("set-cookie")).toBeNull();

    // The same form from the server's own sign-in page signs in as before.
    const own = await form(`${server.issuer}/authorize`, signIn, submittedFrom(server.issuer));
    expect(own.status).toBe(302);
    expect(new URL(own.headers.get("location")!).searchParams.get("code")).toMatch(/^code_/);
  });

  it("answers its pages only on a loopback name: a page whose DNS name was rebound to this machine is refused", async () => {
    const { client_id: clientId } = (await (await register()).json()) as { client_id: string };
    // Over node:http: fetch does not let a caller set Host.
    const http = new AuthzenClient(server.issuer);
    const port = new URL(server.issuer).port;
    const body = new URLSearchParams({ ...authorization(clientId), subject: "alice", acr: "mfa", decision: "allow" }).toString();
    const formHeaders = { "content-type": "application/x-www-form-urlencoded" };
    for (const host of [`rebound.example:${port}`, "rebound.example"]) {
      // What the rebound page's browser sends: its own name in Host, and an Origin that agrees with it.
      const answer = await http.request("/authorize", { body, headers: { ...formHeaders, host, origin: `http://${host}`, "sec-fetch-site": "same-origin" } });
      expect([answer.status, answer.json.error]).toEqual([403, "host_not_loopback"]);
      expect(answer.headers.location).toBeUndefined();
      const page = await http.request(`/authorize?${String(new URLSearchParams(authorization(clientId)))}`, { method: "GET", headers: { host } });
      expect(page.status).toBe(403);
    }
    for (const host of [`localhost:${port}`, `127.0.0.1:${port}`]) {
      const answer = await http.request("/authorize", { body, headers: { ...formHeaders, host, origin: `http://${host}`, "sec-fetch-site": "same-origin" } });
      expect(answer.status, host).toBe(302);
    }
  });

  it("lets no other site frame its pages, nor read them cross-origin", async () => {
    const { client_id: clientId } = (await (await register()).json()) as { client_id: string };
    const page = await fetch(`${server.issuer}/authorize?${String(new URLSearchParams(authorization(clientId)))}`, {
      headers: { origin: "https://evil.example" },
    });
    expect(page.status).toBe(200);
    expect(page.headers.get("x-frame-options")).toBe("DENY");
    expect(page.headers.get("content-security-policy")).toContain("frame-ancestors 'none'");
    expect(page.headers.get("access-control-allow-origin")).toBeNull();
    // What browser clients call cross-origin stays readable.
    const metadata = await fetch(`${server.issuer}/.well-known/oauth-authorization-server`, { headers: { origin: "http://localhost:6274" } });
    expect(metadata.headers.get("access-control-allow-origin")).toBe("*");
  });

  it("lets a web page served from elsewhere register loopback redirects only; local pages and programs register https ones too", async () => {
    const foreign = await register({ redirect_uris: ["https://evil.example/cb"] }, { origin: "https://evil.example" });
    expect(foreign.status).toBe(400);
    expect(await foreign.json()).toMatchObject({ error: "invalid_redirect_uri" });
    expect((await register({ redirect_uris: [redirect] }, { origin: "https://evil.example" })).status).toBe(201);
    // The MCP Inspector, a page on this machine; and a program, which sends no Origin.
    expect((await register({ redirect_uris: ["https://app.example/cb"] }, { origin: "http://localhost:6274" })).status).toBe(201);
    expect((await register({ redirect_uris: ["https://app.example/cb"] })).status).toBe(201);
  });

  it("continues a browser session at the next authorization, with its authentication time", async () => {
    const { client_id: clientId } = (await (await register()).json()) as { client_id: string };
    const stepUp = await form(`${server.issuer}/step-up`, { client_id: clientId, subject: "bob", acr: "mfa" });
    expect(stepUp.status).toBe(200);
    const cookie = stepUp.headers.get("set-cookie")!.split(";")[0]!;
    const page = await fetch(`${server.issuer}/authorize?${String(new URLSearchParams(authorization(clientId)))}`, { headers: { cookie } });
    expect(await page.text()).toContain("Continue as bob");
    const answer = await fetch(`${server.issuer}/authorize`, {
      method: "POST",
      redirect: "manual",
      headers: { "content-type": "application/x-www-form-urlencoded", cookie },
      body: new URLSearchParams({ ...authorization(clientId), decision: "allow", use_session: "yes" }).toString(),
    });
    const code = new URL(answer.headers.get("location")!).searchParams.get("code")!;
    const body = (await (
      await form(`${server.issuer}/token`, { grant_type: "authorization_code", client_id: clientId, redirect_uri: redirect, code, code_verifier: verifier })
    ).json()) as { access_token: string };
    expect(decodeJwt(body.access_token)).toMatchObject({ sub: "bob", acr: "mfa" });
  });
});
