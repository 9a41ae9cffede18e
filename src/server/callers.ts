// Which API is calling: its client certificate (mutual TLS) and/or its key in
// the x-verdict-api-key metadata. Configuration holds only keys' SHA-256.
import { createHash } from "node:crypto";
import type { PeerCertificate } from "node:tls";
import type { Metadata } from "@grpc/grpc-js";
import { API_KEY_METADATA } from "@verdict/sdk/wire";
import type { ApiConfig, ClientCertificateIdentity } from "./config.js";
import type { Caller } from "../decide/index.js";

/** What the transport knows about a call. */
export interface CallCredentials {
  metadata: Metadata;
  /** Present only when the client certificate verified against the configured CA. */
  peerCertificate?: PeerCertificate | undefined;
}

export type Authentication = { ok: true; caller: Caller } | { ok: false; why: string };

interface Registered {
  caller: Caller;
  identity?: ClientCertificateIdentity;
}

export class CallerRegistry {
  private readonly byKeyHash = new Map<string, Registered>();
  private readonly withCertificates: Registered[] = [];

  constructor(
    apis: readonly ApiConfig[],
    private readonly mutualTls: boolean,
  ) {
    for (const api of apis) {
      const registered: Registered = {
        caller: { name: api.name, audience: api.audience, scopes: new Set(api.scopes), unknownScopes: api.unknown_scopes, grants: new Set(api.grants) },
        ...(api.client_certificate ? { identity: api.client_certificate } : {}),
      };
      if (api.key_sha256) this.byKeyHash.set(api.key_sha256, registered);
      if (api.client_certificate) this.withCertificates.push(registered);
    }
  }

  authenticate({ metadata, peerCertificate }: CallCredentials): Authentication {
    const keys = metadata.get(API_KEY_METADATA);
    if (keys.length > 1) return { ok: false, why: `${API_KEY_METADATA} sent more than once` };
    const key = keys[0];
    if (key !== undefined && typeof key !== "string") return { ok: false, why: `malformed ${API_KEY_METADATA}` };
    return this.identify(key, peerCertificate);
  }

  /** The same rules for any transport: the key as sent (undefined: none) and the verified client certificate. */
  identify(key: string | undefined, peerCertificate?: PeerCertificate): Authentication {
    if (key !== undefined && (key.length === 0 || key.length > 512)) return { ok: false, why: `malformed ${API_KEY_METADATA}` };
    // A lookup by the key's hash: the hash is not secret, and comparing hashes
    // reveals nothing useful about the key through timing.
    const byKey = key !== undefined ? this.byKeyHash.get(hashApiKey(key)) : undefined;
    if (key !== undefined && !byKey) return { ok: false, why: `unknown ${API_KEY_METADATA}` };

    if (!this.mutualTls) return byKey ? { ok: true, caller: byKey.caller } : { ok: false, why: `missing ${API_KEY_METADATA}` };

    if (!peerCertificate) return { ok: false, why: "no verified client certificate" };
    const matches = this.withCertificates.filter((registered) => registered.identity && certificateMatches(peerCertificate, registered.identity));
    if (matches.length !== 1)
      return { ok: false, why: matches.length === 0 ? "client certificate not registered for any API" : "client certificate matches several APIs" };
    const byCertificate = matches[0] as Registered;
    if (byKey && byKey !== byCertificate) return { ok: false, why: "the key and the client certificate name different APIs" };
    return { ok: true, caller: byCertificate.caller };
  }
}

export function hashApiKey(key: string): string {
  return createHash("sha256").update(key, "utf8").digest("hex");
}

/** Every field the identity names must match the certificate. */
export function certificateMatches(certificate: PeerCertificate, identity: ClientCertificateIdentity): boolean {
  const cn = certificate.subject?.CN;
  const commonNames = Array.isArray(cn) ? cn : cn !== undefined ? [cn] : [];
  const names = subjectAltNames(certificate.subjectaltname);
  if (identity.subject_cn !== undefined && !commonNames.includes(identity.subject_cn)) return false;
  if (identity.dns_san !== undefined && !names.dns.includes(identity.dns_san)) return false;
  if (identity.uri_san !== undefined && !names.uri.includes(identity.uri_san)) return false;
  return true;
}

function subjectAltNames(text: string | undefined): { dns: string[]; uri: string[] } {
  const out = { dns: [] as string[], uri: [] as string[] };
  for (const entry of (text ?? "").split(/,\s*/)) {
    if (entry.startsWith("DNS:")) out.dns.push(entry.slice(4));
    else if (entry.startsWith("URI:")) out.uri.push(entry.slice(4));
  }
  return out;
}
