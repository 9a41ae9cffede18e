// A Verdict serving AuthZEN for tests (in process: gRPC and the AuthZEN listener on
// loopback ports, MongoDB over the wire, an example's policy compiled by the real
// opa), and a small HTTPS client that trusts the test CA.
import { request as httpRequest, type IncomingHttpHeaders } from "node:http";
import { request as httpsRequest } from "node:https";
import { join } from "node:path";
import type { ConfigFile } from "../../src/config/index.js";
import { packageRoot } from "../../src/paths.js";
import { buildTestBundle } from "./bundles.js";
import { createTestCa, type Issued, type TestCa } from "./certs.js";
import { startTestVerdict, type TestVerdict, type TestVerdictOptions } from "./verdict.js";

export const CERTIFICATION_DIR = join(packageRoot, "examples", "authzen-certification");
export const TODO_DIR = join(packageRoot, "examples", "authzen-todo");

/** What a false decision's context (or a search's) may carry. */
export interface DecisionContext {
  decision_id?: string;
  effect?: string;
  reasons?: { code: string; message: string }[];
  challenge?: string;
  scope?: string;
  acr_values?: string;
  max_age?: number;
  retry_after_ms?: number;
  error?: { status: number; code: string; message: string };
  [key: string]: unknown;
}

export interface Decision {
  decision: boolean;
  context?: DecisionContext;
}

/** Every AuthZEN response body (and error body) as the tests read it. */
export interface Body {
  decision?: boolean;
  context?: DecisionContext;
  evaluations?: Decision[];
  results?: { type?: string; id?: string; name?: string }[];
  page?: { next_token: string; count?: number; total?: number };
  error?: string;
  message?: string;
  [key: string]: unknown;
}

export interface Answer {
  status: number;
  headers: IncomingHttpHeaders;
  text: string;
  /** The body parsed as JSON ({} when it is not JSON). */
  json: Body;
}

export interface RequestOptions {
  method?: string;
  /** An object is sent as JSON; a string as is. */
  body?: unknown;
  headers?: Record<string, string>;
  /** The client certificate (mutual TLS). */
  client?: Issued;
}

export class AuthzenClient {
  constructor(
    readonly baseUrl: string,
    private readonly options: { ca?: string; apiKey?: string } = {},
  ) {}

  post(path: string, body: unknown, headers: Record<string, string> = {}): Promise<Answer> {
    return this.request(path, { method: "POST", body, headers });
  }

  request(path: string, { method = "POST", body, headers = {}, client }: RequestOptions = {}): Promise<Answer> {
    const url = new URL(path, this.baseUrl);
    const payload = body === undefined ? undefined : typeof body === "string" ? body : JSON.stringify(body);
    const allHeaders: Record<string, string> = {
      ...(payload !== undefined ? { "content-type": "application/json" } : {}),
      ...(this.options.apiKey !== undefined ? { authorization: this.options.apiKey } : {}),
      ...headers,
    };
    for (const [key, value] of Object.entries(allHeaders)) if (value === "") delete allHeaders[key];
    const send = url.protocol === "https:" ? httpsRequest : httpRequest;
    return new Promise((resolve, reject) => {
      const req = send(
        url,
        {
          method,
          headers: { ...allHeaders, ...(payload !== undefined ? { "content-length": String(Buffer.byteLength(payload)) } : {}) },
          ...(url.protocol === "https:" ? { ca: this.options.ca, ...(client ? { cert: client.certPem, key: client.keyPem } : {}) } : {}),
          agent: false,
        },
        (res) => {
          let text = "";
          res.setEncoding("utf8");
          res.on("data", (chunk: string) => (text += chunk));
          res.on("end", () => {
            let json: Body = {};
            try {
              json = JSON.parse(text) as Body;
            } catch {
              // not JSON: the test asserts on text or status
            }
            resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json });
          });
        },
      );
      req.on("error", reject);
      req.end(payload);
    });
  }
}

export interface AuthzenVerdict {
  t: TestVerdict;
  client: AuthzenClient;
  ca: TestCa;
  /** The AuthZEN base URL (https://127.0.0.1:PORT). */
  url: string;
  stop(): Promise<void>;
}

const bundles = new Map<string, Promise<string>>();

/** An example's policy, compiled once per test file. */
export function exampleBundle(dir: string): Promise<string> {
  const key = join(dir, "policy");
  let bundle = bundles.get(key);
  if (!bundle) {
    bundle = buildTestBundle(key).then((b) => b.path);
    bundles.set(key, bundle);
  }
  return bundle;
}

export interface AuthzenVerdictOptions extends TestVerdictOptions {
  /** The authzen section, merged over TLS with a test certificate and the test API (trusting asserted subjects). */
  authzen?: Partial<NonNullable<ConfigFile["authzen"]>>;
  ca?: TestCa;
}

/** A test Verdict serving AuthZEN over TLS (a certificate of a throwaway CA) for its test API. */
export async function startAuthzenVerdict(options: AuthzenVerdictOptions = {}): Promise<AuthzenVerdict> {
  const ca = options.ca ?? createTestCa("Verdict AuthZEN Test CA");
  const server = ca.issue({ cn: "localhost", dnsNames: ["localhost"], ips: ["127.0.0.1"], server: true });
  const t = await startTestVerdict({
    ...options,
    config: {
      ...options.config,
      authzen: {
        listen: "127.0.0.1:0",
        tls: { cert_file: server.certFile, key_file: server.keyFile },
        apis: [{ name: "invoices-api", trust_asserted_subjects: true }],
        ...options.authzen,
      },
    },
  });
  const authzen = t.verdict.authzen;
  if (!authzen) throw new Error("the test Verdict serves no AuthZEN");
  const url = `https://127.0.0.1:${authzen.port}`;
  return { t, client: new AuthzenClient(url, { ca: ca.certPem, apiKey: t.apiKey }), ca, url, stop: () => t.stop() };
}
