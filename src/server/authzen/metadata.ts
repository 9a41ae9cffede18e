// GET /.well-known/authzen-configuration: the PDP metadata. Its identifier is the
// configured base_url, else the scheme and Host the request was sent to, so it
// equals the base URL the PEP used (which is what the PEP checks).
import { AuthzenError } from "./errors.js";

export const ENDPOINTS = {
  access_evaluation_endpoint: "/access/v1/evaluation",
  access_evaluations_endpoint: "/access/v1/evaluations",
  search_subject_endpoint: "/access/v1/search/subject",
  search_resource_endpoint: "/access/v1/search/resource",
  search_action_endpoint: "/access/v1/search/action",
} as const;

export const METADATA_PATH = "/.well-known/authzen-configuration";

/** host, host:port, or [v6]:port; nothing that could smuggle a path or credentials into the identifier. */
const HOST = /^(?:[A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?|\[[0-9A-Fa-f:.]{2,45}\])(?::\d{1,5})?$/;

export function baseUrlOf(configured: string | undefined, scheme: "https" | "http", host: string | undefined): string {
  if (configured !== undefined) return configured;
  if (host === undefined || !HOST.test(host)) throw new AuthzenError("invalid_request", "the Host header must be host[:port]");
  return `${scheme}://${host.toLowerCase()}`;
}

export function metadata(base: string): Record<string, string> {
  return {
    policy_decision_point: base,
    ...(Object.fromEntries(Object.entries(ENDPOINTS).map(([key, path]) => [key, base + path])) as Record<keyof typeof ENDPOINTS, string>),
  };
}
