// The console's guard on writes (checkSameOrigin): a browser's Fetch Metadata says
// whether a write comes from the console's own page; without it, the Origin must name
// the Host, by host only (the page is https behind a TLS proxy, the listener plain http).
import type { FastifyRequest } from "fastify";
import { describe, expect, it } from "vitest";
import { checkSameOrigin, ConsoleRefusal } from "../../src/server/admin/console/security.js";

const request = (headers: Record<string, string>) => ({ headers }) as unknown as Pick<FastifyRequest, "headers">;
const refused = (headers: Record<string, string>) => {
  try {
    checkSameOrigin(request(headers));
    return "taken";
  } catch (error) {
    return (error as ConsoleRefusal).error;
  }
};

describe("a write to the console's API", () => {
  it("is taken from the console's own page behind a TLS-terminating proxy (https page, plain-http listener)", () => {
    expect(refused({ host: "console.example.com", origin: "https://console.example.com", "sec-fetch-site": "same-origin" })).toBe("taken");
    // a browser that sends no Fetch Metadata: the Origin's host is the Host
    expect(refused({ host: "console.example.com", origin: "https://console.example.com" })).toBe("taken");
    expect(refused({ host: "127.0.0.1:9464", origin: "http://127.0.0.1:9464" })).toBe("taken");
    // no browser at all (curl, the CLI): neither header
    expect(refused({ host: "console.example.com" })).toBe("taken");
  });

  it("is refused from another site, whatever it says its origin is", () => {
    expect(refused({ host: "console.example.com", origin: "https://console.example.com", "sec-fetch-site": "cross-site" })).toBe("cross_site_request");
    expect(refused({ host: "console.example.com", origin: "https://console.example.com", "sec-fetch-site": "same-site" })).toBe("cross_site_request");
    expect(refused({ host: "console.example.com", origin: "https://evil.example" })).toBe("cross_site_request");
    expect(refused({ host: "console.example.com", origin: "https://console.example.com.evil.example" })).toBe("cross_site_request");
    expect(refused({ host: "console.example.com", origin: "null" })).toBe("cross_site_request");
  });
});
