// `verdict serve --profile dev` (npm start) builds its configuration with devConfig,
// --admin-listen among the keys it is given. Its console's development sign-in gives
// every console scope to anyone who reaches the admin listener, so that listener stays
// on loopback: another address is a configuration problem, reported like the others.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { devConfig } from "../../src/dev/index.js";

const stateDir = mkdtempSync(join(tmpdir(), "verdict-dev-profile-"));
afterAll(() => rmSync(stateDir, { recursive: true, force: true }));

describe("the development profile's admin listener", () => {
  it("refuses an admin_listen beyond loopback, naming the key and why", async () => {
    for (const address of ["0.0.0.0:9464", "192.168.1.10:9464", "[::]:9464", "verdict.example:9464"]) {
      await expect(devConfig({}, stateDir, { admin_listen: address })).rejects.toMatchObject({
        code: "config_invalid",
        message: expect.stringContaining("✖ admin_listen: the development profile's console signs in anyone who reaches it"),
        problems: [{ path: "admin_listen", message: expect.stringMatching(/keep admin_listen on loopback/) }],
      });
    }
  });

  it("serves on a loopback admin_listen: 127.0.0.0/8, [::1] or localhost, any port", async () => {
    for (const address of ["127.0.0.1:0", "127.0.0.2:9464", "[::1]:9464", "localhost:9464"]) {
      const { config } = await devConfig({}, stateDir, { admin_listen: address });
      expect(config.profile).toBe("dev");
      expect(`${config.admin_listen.host}:${config.admin_listen.port}`).toBe(address.replace(/^\[(.*)\]/, "$1"));
    }
  });
});
