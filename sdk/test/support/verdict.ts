// A real Verdict for the SDK's tests: the repository's test harness with the SDK
// fixture policy (test/fixtures/sdk-policy), and SDK clients pointed at it.
import { createVerdictClient, type VerdictClient, type VerdictClientOptions } from "@verdict/sdk";
import { buildFixtureBundle } from "../../../test/support/bundles.js";
import { startTestVerdict, type TestVerdict, type TestVerdictOptions } from "../../../test/support/verdict.js";

export interface SdkTestVerdict extends TestVerdict {
  /** An SDK client of this Verdict (plaintext on loopback, the test API's key); closed by stop(). */
  sdkClient(options?: Partial<VerdictClientOptions>): VerdictClient;
}

export async function startSdkVerdict(options: TestVerdictOptions = {}): Promise<SdkTestVerdict> {
  const t = await startTestVerdict({ ...options, config: { bundle: await buildFixtureBundle("sdk-policy"), ...options.config } });
  const clients: VerdictClient[] = [];
  return {
    ...t,
    sdkClient(overrides = {}) {
      // Generous: two shared cores run the whole suite; deadline behaviour has its own tests.
      const client = createVerdictClient({ address: t.address, tls: false, credential: { apiKey: t.apiKey }, deadlineMs: 10_000, ...overrides });
      clients.push(client);
      return client;
    },
    async stop() {
      for (const client of clients) client.close();
      await t.stop();
    },
  };
}

/** A loopback address nothing listens on. */
export async function closedAddress(): Promise<string> {
  const { createServer } = await import("node:net");
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (!address || typeof address === "string") throw new Error("no address");
  return `127.0.0.1:${address.port}`;
}
