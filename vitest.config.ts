import { fileURLToPath } from "node:url";
import { defineConfig } from "vitest/config";

const sdk = (path: string) => fileURLToPath(new URL(`./sdk/src/${path}`, import.meta.url));

export default defineConfig({
  resolve: {
    // Tests run the SDK from source, like the server's own modules.
    alias: [
      { find: /^@verdict\/sdk\/wire$/, replacement: sdk("wire/index.ts") },
      { find: /^@verdict\/sdk$/, replacement: sdk("index.ts") },
    ],
  },
  test: {
    include: ["test/**/*.test.ts", "sdk/test/**/*.test.ts"],
    globalSetup: ["test/setup/global.ts"],
    testTimeout: 30_000,
    hookTimeout: 120_000,
    pool: "forks",
    reporters: ["default"],
  },
});
