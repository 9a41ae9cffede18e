// Runs the invoices API against a running Verdict (see README.md).
import { readFileSync } from "node:fs";
import { createVerdictClient } from "@verdict/sdk";
import { createInvoicesApp } from "./app.js";

function setting(name: string, fallback?: string): string {
  const value = process.env[name] ?? fallback;
  if (value === undefined || value === "") {
    process.stderr.write(`${name} is required (see examples/invoices-api/README.md)\n`);
    process.exit(2);
  }
  return value;
}

/** The API key from VERDICT_API_KEY, or from the file VERDICT_API_KEY_FILE names (a mounted secret). */
function apiKey(): string {
  const file = process.env["VERDICT_API_KEY_FILE"];
  if (process.env["VERDICT_API_KEY"] === undefined && file) return readFileSync(file, "utf8").trim();
  return setting("VERDICT_API_KEY");
}

const verdict = createVerdictClient({
  address: setting("VERDICT_ADDRESS", "127.0.0.1:50051"),
  // Plaintext is only accepted on loopback (the local dev Verdict); otherwise give the CA.
  tls: process.env["VERDICT_TLS_CA"] ? { ca: readFileSync(process.env["VERDICT_TLS_CA"]) } : false,
  credential: { apiKey: apiKey() },
});
const host = setting("HOST", "127.0.0.1");
const port = Number(setting("PORT", "3000"));
const publicBaseUrl = process.env["PUBLIC_BASE_URL"];

const app = createInvoicesApp({
  verdict,
  ...(publicBaseUrl ? { publicBaseUrl } : {}),
  // The error says why no decision came (never a token); the client got 503.
  onVerdictError: (error) => process.stderr.write(`verdict: ${error.code}: ${error.message}\n`),
});
const server = app.listen(port, host, () => process.stdout.write(`invoices-api listening on http://${host}:${port}\n`));

for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.once(signal, () => {
    server.close(() => {
      verdict.close();
      process.exit(0);
    });
  });
}
