// The port a test names for a server it starts or restarts (test/support/mongo-servers.ts):
// free, and outside the range the kernel gives outgoing connections, so that no
// client's connection can take it while the server is down or not yet bound.
import { createServer } from "node:net";
import { describe, expect, it } from "vitest";
import { ephemeralPorts, freePort } from "../support/mongo-servers.js";

describe("freePort", () => {
  it("picks ports below the ephemeral range, that a server can then listen on", async () => {
    const { low, high } = ephemeralPorts();
    expect(low).toBeGreaterThan(1_024);
    expect(high).toBeGreaterThanOrEqual(low);
    const ports = await Promise.all(Array.from({ length: 20 }, () => freePort()));
    for (const port of ports) {
      expect(port).toBeGreaterThanOrEqual(10_000);
      expect(port).toBeLessThan(low);
    }
    const port = ports[0] as number;
    const server = createServer();
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(port, "127.0.0.1", resolve);
    });
    await new Promise((resolve) => server.close(resolve));
  });
});
