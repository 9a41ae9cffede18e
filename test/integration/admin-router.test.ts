// The admin listener's answers to what its router refuses before any route runs (a path
// that is not a valid URL, a path parameter past the router's length): the listener's own
// error shape with a stable code and a fixed message, where Fastify's default echoed the
// whole path back in a shape of its own; and the listener keeps serving.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { silentLogger } from "../../src/observability/index.js";
import { forwardRoutes, startAdminServer, type RunningAdmin } from "../../src/server/admin/index.js";

let admin: RunningAdmin;
beforeAll(async () => {
  admin = await startAdminServer({
    host: "127.0.0.1",
    port: 0,
    log: silentLogger(),
    routes: [
      (app) => void app.get("/ping", async () => ({ pong: true })),
      // As a process's approval pages are routed (/approvals/:id).
      (app) => void app.get<{ Params: { id: string } }>("/items/:id", async (request) => ({ id: request.params.id })),
      forwardRoutes({
        paths: ["/approvals/*"],
        target: () => undefined,
        process: "a Verdict process",
        unavailable: "process_unavailable",
        log: silentLogger(),
      }),
    ],
  });
});
afterAll(async () => {
  await admin?.close();
});

const answer = async (path: string) => {
  const response = await fetch(`${admin.url}${path}`);
  return { status: response.status, type: response.headers.get("content-type"), text: await response.text() };
};

describe("the admin listener's router refusals", () => {
  it("answers 400 invalid_request to a path whose percent-encoding is not UTF-8", async () => {
    const { status, type, text } = await answer("/approvals/%ff%fe");
    expect([status, type]).toEqual([400, expect.stringMatching(/^application\/json/)]);
    expect(JSON.parse(text)).toEqual({ error: "invalid_request", message: "the path is not a valid URL (its percent-encoding is not UTF-8)" });
  });

  it("answers 414 invalid_request to a path parameter past the router's length, without echoing it", async () => {
    const { status, text } = await answer(`/items/${"a".repeat(3_000)}`);
    expect(status).toBe(414);
    expect(JSON.parse(text)).toEqual({ error: "invalid_request", message: "a part of the path is longer than 512 characters" });
    // as long as an id a route takes (512: an agent's client_id), and no longer
    expect(JSON.parse((await answer(`/items/${"a".repeat(512)}`)).text)).toEqual({ id: "a".repeat(512) });
    expect((await answer(`/items/${"a".repeat(513)}`)).status).toBe(414);
  });

  it("keeps serving after them", async () => {
    expect(JSON.parse((await answer("/ping")).text)).toEqual({ pong: true });
  });
});
