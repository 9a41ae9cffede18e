// Whether Verdict's database connection leaves this machine in clear: suspensions,
// approvals, counters and single-use keys travel on it, so plaintext beyond loopback
// is said at start as the other insecure settings are (docs/deployment.md asks for
// authentication and TLS in production).
import { isLoopback } from "./loopback.js";

/**
 * The hosts of a `mongodb://` URI beyond loopback, when the URI does not ask for TLS
 * (`tls=true` or `ssl=true`); none for `mongodb+srv://` (TLS by default), a URI with
 * TLS, or one that is only loopback and unix sockets. Never the credentials.
 */
export function plaintextDatabaseHosts(uri: string): string[] {
  const match = /^mongodb:\/\/(?:[^@/]*@)?([^/?]*)(?:\/[^?]*)?(?:\?(.*))?$/i.exec(uri);
  if (!match) return [];
  const options = new URLSearchParams(match[2] ?? "");
  for (const [name, value] of options) if ((name.toLowerCase() === "tls" || name.toLowerCase() === "ssl") && value.toLowerCase() === "true") return [];
  return (match[1] ?? "")
    .split(",")
    .map(hostOf)
    .filter((host) => host !== "" && !host.toLowerCase().startsWith("%2f") && !isLoopback(host.toLowerCase()));
}

/** "db-1:27017" -> "db-1", "[::1]:27017" -> "[::1]". */
function hostOf(entry: string): string {
  if (entry.startsWith("[")) return entry.slice(0, entry.indexOf("]") + 1);
  return entry.replace(/:\d*$/, "");
}
