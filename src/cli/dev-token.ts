import { stateDirFrom, type Environment } from "../config/index.js";
import { DEV_API_AUDIENCE, mintDevToken } from "../dev/index.js";
import { parseOptions, required, UsageError } from "./args.js";

export const usage = `verdict dev-token --sub S --client-id C --scope "A B" [options]

  --sub S              the user the token is for
  --client-id C        the client (agent) that holds it
  --scope "A B"        space-separated scopes
  --acr X              authentication level (sets auth_time to now), e.g. mfa
  --auth-time T        when the user authenticated, with --acr: seconds since
                       the epoch, or an age like 10m or 2h (a stale step-up)
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
    "auth-time": { type: "string" },
  });
  const authTime = options["auth-time"] !== undefined ? parseAuthTime(options["auth-time"]) : undefined;
  if (authTime !== undefined && !options.acr) throw new UsageError("--auth-time goes with --acr (the level the user authenticated at)");
  const ttlSeconds = Number(options.ttl);
  if (!Number.isInteger(ttlSeconds) || ttlSeconds <= 0 || ttlSeconds > 86_400) throw new UsageError("--ttl must be 1 to 86400 seconds");
  const token = await mintDevToken(stateDirFrom(env), {
    subject: required(options.sub, "--sub"),
    clientId: required(options["client-id"], "--client-id"),
    scopes: (options.scope as string).split(" ").filter((s) => s !== ""),
    audience: options.aud as string,
    ttlSeconds,
    ...(options.acr ? { acr: options.acr } : {}),
    ...(authTime !== undefined ? { authTime } : {}),
    ...(options["client-type"] ? { clientType: options["client-type"] } : {}),
    ...(options.act ? { actors: options.act.split(",").map((subject) => ({ subject: subject.trim() })) } : {}),
    ...(options.jkt ? { extraClaims: { cnf: { jkt: options.jkt } } } : {}),
  });
  process.stdout.write(token + "\n");
}

/** Seconds since the epoch, or an age before now: 90s, 10m, 2h, 1d. */
function parseAuthTime(value: string): number {
  const now = Math.floor(Date.now() / 1000);
  if (/^\d{1,12}$/.test(value)) return Number(value);
  const age = /^(\d{1,7})([smhd])$/.exec(value);
  if (!age) throw new UsageError("--auth-time must be seconds since the epoch or an age like 10m");
  const unit = { s: 1, m: 60, h: 3600, d: 86_400 }[age[2] as "s" | "m" | "h" | "d"];
  return now - Number(age[1]) * unit;
}
