// The ssf section of the configuration (docs/suspensions.md): the Shared Signals
// transmitters whose Security Event Tokens Verdict accepts on the admin listener.
import { z } from "zod";
import { filePath, type ConfigContext } from "../config/fields.js";
import { DEFAULT_ALGORITHMS, SUPPORTED_ALGORITHMS } from "../token/config.js";

const transmitter = (ctx: ConfigContext) =>
  z
    .object({
      /** Names the transmitter in suspensions (source ssf:<name>:<event>) and logs. */
      name: z.string().regex(/^[A-Za-z0-9._-]{1,64}$/, "name: letters, digits, '.', '_' or '-', at most 64"),
      /** The exact iss of its SETs. */
      issuer: z.string().min(1),
      jwks_uri: z.url({ protocol: /^https?$/ }).optional(),
      jwks_file: filePath(ctx).optional(),
      algorithms: z
        .array(z.enum(SUPPORTED_ALGORITHMS))
        .min(1)
        .default([...DEFAULT_ALGORITHMS]),
      /** The exact aud its SETs must carry: this receiver, as the transmitter's stream names it. */
      audience: z.string().min(1),
      /**
       * The OAuth issuer whose tokens' subjects this transmitter's subjects are, for
       * subject identifiers that name no issuer (opaque, or a session); absent: any trusted issuer.
       */
      token_issuer: z.string().min(1).optional(),
    })
    .strict()
    .refine((value) => typeof value !== "object" || value === null || (value.jwks_uri === undefined) !== (value.jwks_file === undefined), {
      message: "each transmitter needs exactly one of jwks_uri or jwks_file",
    });

export const ssfSchema = (ctx: ConfigContext) =>
  z
    .object({
      /** Empty: POST /ssf/events answers 404 (no receiver). */
      transmitters: z.array(transmitter(ctx)).default([]),
      /** A SET older than this (by iat) is refused; its jti is remembered this long, so a replay is refused too. */
      max_age_seconds: z
        .number()
        .int()
        .min(60)
        .max(30 * 86_400)
        .default(86_400),
      /** How long a revocation (credential change, session revoked) holds: at least the longest access token lifetime. */
      revocation_seconds: z
        .number()
        .int()
        .min(60)
        .max(30 * 86_400)
        .default(86_400),
    })
    .strict()
    .prefault({});

export type SsfConfig = z.output<ReturnType<typeof ssfSchema>>;
export type TransmitterConfig = SsfConfig["transmitters"][number];
