// Reading the token, the DPoP proof and the request's URL from HTTP requests.
import { describe, expect, it } from "vitest";
import { parsePublicBaseUrl, readCredentials, readRequestId, requestUrl, VerdictError } from "@verdict/sdk";

const JWS = "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJhIn0.c2ln";

describe("readCredentials", () => {
  it("reads a Bearer token, whatever the scheme's case", () => {
    expect(readCredentials({ authorization: `Bearer ${JWS}` })).toEqual({ kind: "token", scheme: "Bearer", token: JWS });
    expect(readCredentials({ authorization: `bearer   ${JWS}` })).toEqual({ kind: "token", scheme: "Bearer", token: JWS });
  });

  it("reads a DPoP token with its proof", () => {
    expect(readCredentials({ authorization: `DPoP ${JWS}`, dpop: JWS })).toEqual({ kind: "token", scheme: "DPoP", token: JWS, dpopProof: JWS });
  });

  it("counts no header, an empty one, or another scheme as no token", () => {
    expect(readCredentials({})).toEqual({ kind: "none" });
    expect(readCredentials({ authorization: "" })).toEqual({ kind: "none" });
    expect(readCredentials({ authorization: "Basic dXNlcjpwYXNz" })).toEqual({ kind: "none" });
  });

  it("refuses a Bearer header without a single well-formed token", () => {
    expect(readCredentials({ authorization: "Bearer" })).toEqual({ kind: "malformed_authorization" });
    expect(readCredentials({ authorization: "Bearer a b" })).toEqual({ kind: "malformed_authorization" });
    expect(readCredentials({ authorization: 'Bearer "quoted"' })).toEqual({ kind: "malformed_authorization" });
    expect(readCredentials({ authorization: [`Bearer ${JWS}`, `Bearer ${JWS}`] })).toEqual({ kind: "malformed_authorization" });
  });

  it("refuses a DPoP header that is not one compact JWS", () => {
    expect(readCredentials({ authorization: `DPoP ${JWS}`, dpop: `${JWS}, ${JWS}` })).toEqual({ kind: "malformed_dpop_proof" });
    expect(readCredentials({ authorization: `DPoP ${JWS}`, dpop: "not-a-jws" })).toEqual({ kind: "malformed_dpop_proof" });
    expect(readCredentials({ authorization: `DPoP ${JWS}`, dpop: `${"a".repeat(9000)}.b.c` })).toEqual({ kind: "malformed_dpop_proof" });
  });
});

describe("requestUrl", () => {
  const request = { method: "POST", url: "/invoices/inv-1/dispute?x=1", headers: { host: "attacker.example" } };

  it("uses the configured public base URL, not the Host header", () => {
    expect(requestUrl(request, parsePublicBaseUrl("https://api.example.com"))).toBe("https://api.example.com/invoices/inv-1/dispute?x=1");
  });

  it("keeps the path prefix of a public base URL", () => {
    expect(requestUrl(request, parsePublicBaseUrl("https://example.com/api/"))).toBe("https://example.com/api/invoices/inv-1/dispute?x=1");
  });

  it("falls back to the request's Host header and connection", () => {
    expect(requestUrl({ ...request, headers: { host: "127.0.0.1:8080" } }, undefined)).toBe("http://127.0.0.1:8080/invoices/inv-1/dispute?x=1");
    expect(requestUrl({ ...request, headers: { host: "api.example.com" }, encrypted: true }, undefined)).toBe(
      "https://api.example.com/invoices/inv-1/dispute?x=1",
    );
  });

  it("gives no URL when the Host header cannot be one", () => {
    expect(requestUrl({ ...request, headers: { host: "a b@evil" } }, undefined)).toBeUndefined();
    expect(requestUrl({ ...request, headers: {} }, undefined)).toBeUndefined();
  });

  it("refuses a public base URL with a query or in another scheme", () => {
    expect(() => parsePublicBaseUrl("https://api.example.com/?a=1")).toThrow(VerdictError);
    expect(() => parsePublicBaseUrl("ftp://api.example.com")).toThrow(VerdictError);
    expect(() => parsePublicBaseUrl("api.example.com")).toThrow(VerdictError);
  });
});

describe("readRequestId", () => {
  it("passes an X-Request-Id Verdict can carry, and drops one it would refuse", () => {
    expect(readRequestId({ "x-request-id": "req-42" })).toBe("req-42");
    expect(readRequestId({ "x-request-id": "has space" })).toBeUndefined();
    expect(readRequestId({ "x-request-id": "x".repeat(129) })).toBeUndefined();
  });
});
