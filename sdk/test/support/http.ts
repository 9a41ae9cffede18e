// Plain HTTP requests over loopback with full control of the headers (fetch would
// not let a test set Host), and a DPoP key to make proofs with.
import { createHash, randomUUID } from "node:crypto";
import { request as httpRequest } from "node:http";
import { calculateJwkThumbprint, exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWK } from "jose";

export interface HttpResult {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
  /** The body parsed as JSON (undefined when it is not JSON). */
  json: Record<string, unknown> | undefined;
}

export function send(url: string, options: { method?: string; headers?: Record<string, string>; body?: unknown; rawBody?: string } = {}): Promise<HttpResult> {
  const payload = options.rawBody ?? (options.body === undefined ? undefined : JSON.stringify(options.body));
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      url,
      {
        method: options.method ?? "GET",
        headers: { ...(payload !== undefined ? { "content-type": "application/json" } : {}), ...options.headers },
      },
      (res) => {
        let text = "";
        res.setEncoding("utf8");
        res.on("data", (chunk: string) => (text += chunk));
        res.on("end", () => {
          let json: Record<string, unknown> | undefined;
          try {
            json = JSON.parse(text) as Record<string, unknown>;
          } catch {
            json = undefined;
          }
          resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json });
        });
      },
    );
    req.on("error", reject);
    req.end(payload);
  });
}

/** The JSON-RPC messages of an MCP answer, whether one JSON body or an SSE stream. */
export function rpcMessages(res: HttpResult): Record<string, unknown>[] {
  const type = String(res.headers["content-type"] ?? "");
  if (type.startsWith("text/event-stream")) {
    return res.text
      .split("\n")
      .filter((line) => line.startsWith("data: ") && line.length > 6)
      .map((line) => JSON.parse(line.slice(6)) as Record<string, unknown>);
  }
  const parsed = JSON.parse(res.text) as unknown;
  return (Array.isArray(parsed) ? parsed : [parsed]) as Record<string, unknown>[];
}

export interface DpopKey {
  jkt: string;
  /** A proof for one request with this token (RFC 9449 §4.2). */
  proof(method: string, url: string, token: string): Promise<string>;
}

export async function createDpopKey(): Promise<DpopKey> {
  const { privateKey, publicKey } = await generateKeyPair("ES256", { extractable: true });
  const jwk: JWK = await exportJWK(publicKey);
  const key: CryptoKey = privateKey;
  return {
    jkt: await calculateJwkThumbprint(jwk),
    proof: (method, url, token) =>
      new SignJWT({ htm: method, htu: url, iat: Math.floor(Date.now() / 1000), jti: randomUUID(), ath: createHash("sha256").update(token).digest("base64url") })
        .setProtectedHeader({ alg: "ES256", typ: "dpop+jwt", jwk })
        .sign(key),
  };
}
