// The development profile's one-click console sign-in: a development token for the
// console's audience with every console scope, signed by the development issuer.
// Anyone who can reach the loopback admin listener gets one: development only.
import { CONSOLE_SCOPES } from "../server/admin/console/config.js";
import { mintDevToken } from "./issuer.js";
import { demoPolicyAcrLevels } from "./profile.js";

export const DEV_CONSOLE_OPERATOR = "dev-operator";
const TTL_SECONDS = 3_600;

export function devConsoleSignIn(stateDir: string, audience: string): () => Promise<{ token: string; expiresIn: number }> {
  // The strongest level the demo policies know, so that approving (which asks for the approver's own acr) works.
  const acr = Object.entries(demoPolicyAcrLevels()).sort((a, b) => b[1] - a[1])[0]?.[0];
  return async () => ({
    token: await mintDevToken(stateDir, {
      subject: DEV_CONSOLE_OPERATOR,
      clientId: "verdict-console",
      clientType: "web",
      scopes: Object.values(CONSOLE_SCOPES),
      audience,
      ...(acr ? { acr } : {}),
      ttlSeconds: TTL_SECONDS,
    }),
    expiresIn: TTL_SECONDS,
  });
}
