import { stateDirFrom, type Environment } from "../config/index.js";
import { DEV_API_AUDIENCE, mintDevToken } from "../dev/index.js";
import { parseOptions, required, UsageError } from "./args.js";

export const usage = `verdict dev-token --sub S --client-id C --scope "A B" [options]

  --sub S              the user the token is for
  --client-id C        the client (agent) that holds it
  --scope "A B"        space-separated scopes
  --acr X              authentication level (sets auth_time to now), e.g. mfa
  --aud U              audience (default ${DEV_API_AUDIENCE}, the dev API)
  --client-type T      e.g. ai-agent, or web for a person's client (without a
                       known human type the demo policy treats it as an agent)
  --act SUB[,SUB...]   delegation chain (RFC 8693 act), outermost actor first
  --jkt THUMBPRINT     bind the token to a DPoP key (cnf.jkt, RFC 9449)
  --ttl SECONDS        lifetime (default 3600)

Prints a token signed by the local development issuer (key under .verdict/).`;

export async function devToken(argv: string[], env: Environment): Promise<void> {
  const options = parseOptions(argv, {
    sub: { type: "string" },
    "client-id": { type: "string" },
    scope: { type: "string", default: "" },
    acr: { type: "string" },
    aud: { type: "string", default: DEV_API_AUDIENCE },
    "client-type": { type: "string" },
    act: { type: "string" },
    jkt: { type: "string" },
    ttl: { type: "string", default: "3600" },
  });
  const ttlSeconds = Number(options.ttl);
  if (!Number.isInteger(ttlSeconds) || ttlSeconds <= 0 || ttlSeconds > 86_400) throw new UsageError("--ttl must be 1 to 86400 seconds");
  const token = await mintDevToken(stateDirFrom(env), {
    subject: required(options.sub, "--sub"),
    clientId: required(options["client-id"], "--client-id"),
    scopes: (options.scope as string).split(" ").filter((s) => s !== ""),
    audience: options.aud as string,
    ttlSeconds,
    ...(options.acr ? { acr: options.acr } : {}),
    ...(options["client-type"] ? { clientType: options["client-type"] } : {}),
    ...(options.act ? { actors: options.act.split(",").map((subject) => ({ subject: subject.trim() })) } : {}),
    ...(options.jkt ? { extraClaims: { cnf: { jkt: options.jkt } } } : {}),
  });
  process.stdout.write(token + "\n");
}
