// RFC 9728 protected resource metadata: the document an MCP client reads (from the
// resource_metadata URL in a challenge) to learn which authorization servers issue
// tokens for this MCP server and which scopes it knows.
import { VerdictError } from "../errors.js";
import { isLoopbackHost } from "../loopback.js";
import type { NodeLikeResponse, NextFunction } from "../http/index.js";
import type { JsonObject } from "../wire/index.js";

export interface ProtectedResourceMetadataOptions {
  /** The resource identifier: the URL clients use for the MCP endpoint, e.g. "https://mcp.example.com/mcp". */
  resource: string;
  /** Issuer identifiers of the authorization servers that issue tokens for this resource. */
  authorizationServers: string[];
  scopesSupported?: string[];
  /** How tokens may be sent (default ["header"]: the middleware reads only the Authorization header). */
  bearerMethodsSupported?: ("header" | "body" | "query")[];
  resourceName?: string;
  resourceDocumentation?: string;
  resourcePolicyUri?: string;
  resourceTosUri?: string;
  jwksUri?: string;
  dpopSigningAlgValuesSupported?: string[];
  dpopBoundAccessTokensRequired?: boolean;
  tlsClientCertificateBoundAccessTokens?: boolean;
  /** Cache-Control max-age of the served document (default 3600). */
  maxAgeSeconds?: number;
}

export interface ProtectedResourceMetadata {
  /** The JSON document (RFC 9728 §2). */
  document: JsonObject;
  /** Where it is served: /.well-known/oauth-protected-resource followed by the resource's path (RFC 9728 §3.1). */
  path: string;
  /** Its absolute URL: the resource_metadata of every challenge. */
  url: string;
  /** Serves the document at `path` (GET, HEAD, OPTIONS; 405 otherwise) and passes other paths to next. */
  handler: (req: { method: string; url: string; originalUrl?: string }, res: NodeLikeResponse, next?: NextFunction) => void;
}

const WELL_KNOWN = "/.well-known/oauth-protected-resource";

function invalid(message: string): VerdictError {
  return new VerdictError("verdict_invalid_options", `protected resource metadata: ${message}`);
}

function absoluteUrl(value: string, name: string): string {
  try {
    const url = new URL(value);
    if (url.protocol !== "https:" && url.protocol !== "http:") throw new Error();
    return url.href;
  } catch {
    throw invalid(`${name} must be an absolute http(s) URL: ${value}`);
  }
}

function resourceUrl(value: string): URL {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw invalid(`resource is not an absolute URL: ${value}`);
  }
  // RFC 9728 §2: https, no fragment; plain http only for a resource on this machine (development, tests).
  if (!(url.protocol === "https:" || (url.protocol === "http:" && isLoopbackHost(url.hostname))))
    throw invalid("resource must be an https URL (http only on loopback)");
  if (url.hash !== "" || url.search !== "") throw invalid("resource must have no query or fragment");
  return url;
}

export function protectedResourceMetadata(options: ProtectedResourceMetadataOptions): ProtectedResourceMetadata {
  const resource = resourceUrl(options.resource);
  if (!Array.isArray(options.authorizationServers) || options.authorizationServers.length === 0) {
    throw invalid("authorizationServers must name at least one issuer (MCP clients find the authorization server here)");
  }
  // Identifiers are compared exactly by clients (RFC 9728 §3.3, RFC 8414 §3.3): kept as given, only checked.
  for (const issuer of options.authorizationServers) absoluteUrl(issuer, "authorizationServers[]");
  const document: JsonObject = {
    resource: options.resource,
    authorization_servers: [...options.authorizationServers],
    bearer_methods_supported: options.bearerMethodsSupported ?? ["header"],
  };
  if (options.scopesSupported) document["scopes_supported"] = [...options.scopesSupported];
  if (options.resourceName !== undefined) document["resource_name"] = options.resourceName;
  if (options.resourceDocumentation !== undefined) document["resource_documentation"] = absoluteUrl(options.resourceDocumentation, "resourceDocumentation");
  if (options.resourcePolicyUri !== undefined) document["resource_policy_uri"] = absoluteUrl(options.resourcePolicyUri, "resourcePolicyUri");
  if (options.resourceTosUri !== undefined) document["resource_tos_uri"] = absoluteUrl(options.resourceTosUri, "resourceTosUri");
  if (options.jwksUri !== undefined) document["jwks_uri"] = absoluteUrl(options.jwksUri, "jwksUri");
  if (options.dpopSigningAlgValuesSupported) document["dpop_signing_alg_values_supported"] = [...options.dpopSigningAlgValuesSupported];
  if (options.dpopBoundAccessTokensRequired !== undefined) document["dpop_bound_access_tokens_required"] = options.dpopBoundAccessTokensRequired;
  if (options.tlsClientCertificateBoundAccessTokens !== undefined) {
    document["tls_client_certificate_bound_access_tokens"] = options.tlsClientCertificateBoundAccessTokens;
  }

  // RFC 9728 §3.1: the well-known segment goes between the host and the resource's path
  // (a path of "/" adds nothing).
  const path = WELL_KNOWN + (resource.pathname === "/" ? "" : resource.pathname);
  const url = new URL(path, resource.origin).href;
  const body = JSON.stringify(document);
  const maxAge = options.maxAgeSeconds ?? 3600;

  return {
    document,
    path,
    url,
    handler(req, res, next) {
      const requested = (req.originalUrl ?? req.url).split("?")[0];
      if (requested !== path) {
        if (next) next();
        else {
          res.statusCode = 404;
          res.end("");
        }
        return;
      }
      // Browser-based MCP clients fetch this cross-origin.
      res.setHeader("access-control-allow-origin", "*");
      switch (req.method) {
        case "GET":
        case "HEAD":
          res.statusCode = 200;
          res.setHeader("content-type", "application/json; charset=utf-8");
          res.setHeader("cache-control", `public, max-age=${maxAge}`);
          res.end(req.method === "GET" ? body : "");
          return;
        case "OPTIONS":
          res.statusCode = 204;
          res.setHeader("access-control-allow-methods", "GET, HEAD, OPTIONS");
          res.setHeader("access-control-allow-headers", "*");
          res.end("");
          return;
        default:
          res.statusCode = 405;
          res.setHeader("allow", "GET, HEAD, OPTIONS");
          res.end("");
      }
    },
  };
}
