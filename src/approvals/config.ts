// The approvals section of the configuration (docs/approvals.md): where a person
// approves, the webhook told of each new pending approval, which clients are a
// person's (only their tokens decide), and how many an agent may keep pending.
import { z } from "zod";
import { filePath, readSecretFile, type ConfigContext } from "../config/fields.js";
import { plaintextBeyondLoopback } from "../server/loopback.js";
import { normalizeClientType } from "../token/index.js";

/** The shipped policy library's data.settings.agents.human_client_types: the clients people use themselves. */
export const HUMAN_CLIENT_TYPES: readonly string[] = ["web", "native", "user-agent"];

const httpUrl = z.string().refine((value) => {
  try {
    const url = new URL(value);
    return url.protocol === "https:" || url.protocol === "http:";
  } catch {
    return false;
  }
}, "must be an absolute http(s) URL");

export const approvalsSchema = (ctx: ConfigContext) =>
  z
    .object({
      /** Where a person approves, with {id} for the approval's id; default: the admin listener's /approvals/{id}. */
      url: httpUrl.refine((value) => value.includes("{id}"), "must contain {id}").optional(),
      /** Told of each new pending approval (a signed JSON POST, retried with backoff, never holding up a decision). */
      webhook: z
        .object({
          url: httpUrl,
          /** HMAC-SHA256 key the body is signed with (Verdict-Signature), read from a file at start. */
          secret_file: filePath(ctx),
          max_attempts: z.number().int().min(1).max(20).default(6),
          timeout_ms: z.number().int().min(100).max(60_000).default(5_000),
          /** Insecure: POST to a plain http:// URL beyond loopback (each approval's context values and approval_url in clear). */
          insecure_plaintext: z.boolean().default(false),
        })
        .strict()
        .superRefine((value, check) => {
          if (!value.insecure_plaintext && plaintextBeyondLoopback(value.url)) {
            check.addIssue({
              code: "custom",
              path: ["url"],
              message:
                "a plain http URL beyond loopback would send each approval (its context values and approval_url) in clear: use https, or set approvals.webhook.insecure_plaintext: true if a mesh encrypts the hop",
            });
          }
        })
        .transform(({ secret_file, ...rest }, check) => ({
          ...rest,
          secret: readSecretFile(secret_file, (message) => check.addIssue({ code: "custom", message, path: ["secret_file"] })),
        }))
        .optional(),
      /**
       * The client_type of a token that may approve or refuse (a person's client, as the
       * policy library's human_client_types says); any other, or none, is an agent's. Never empty.
       */
      human_client_types: z
        .array(z.string().transform(normalizeClientType).pipe(z.string().min(1, "must name a client type")))
        .min(1, "must name at least one client type: an approval is decided only with a person's client")
        .default([...HUMAN_CLIENT_TYPES]),
      /** Approvals one agent (issuer and client_id) may have pending for one user at one API; one more is DENY approval_limit. */
      max_pending_per_agent: z.number().int().min(1).max(1_000).default(10),
    })
    .strict()
    .prefault({});

export type ApprovalsConfig = z.output<ReturnType<typeof approvalsSchema>>;
