// Runs the invoices MCP server against a running Verdict (see README.md). With
// `npm start` running at the repository root it needs no settings: it reads the
// development MCP API's key and the development authorization server from .verdict/.
import { readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { createVerdictClient } from "@verdict/sdk";
import { createInvoicesMcpApp } from "./app.js";

const stateDir = process.env["VERDICT_HOME"]
  ? resolve(process.env["VERDICT_HOME"])
  : join(dirname(fileURLToPath(import.meta.url)), "..", "..", "..", ".verdict");

function fromState(file: string, what: string): string {
  try {
    return readFileSync(join(stateDir, file), "utf8").trim();
  } catch {
    process.stderr.write(`${what} not found in ${stateDir}: start Verdict with npm start at the repository root, or set it (see README.md)\n`);
    process.exit(2);
  }
}

const port = Number(process.env["PORT"] ?? "3001");
const resource = process.env["MCP_RESOURCE"] ?? `http://127.0.0.1:${port}/mcp`;
const authorizationServer =
  process.env["AUTHORIZATION_SERVER"] ??
  (JSON.parse(fromState("dev-authorization-server.json", "the development authorization server")) as { issuer: string }).issuer;
const verdict = createVerdictClient({
  address: process.env["VERDICT_ADDRESS"] ?? "127.0.0.1:50051",
  tls: process.env["VERDICT_TLS_CA"] ? { ca: readFileSync(process.env["VERDICT_TLS_CA"]) } : false,
  credential: { apiKey: process.env["VERDICT_API_KEY"] ?? fromState("dev-mcp-api-key", "the development MCP API key") },
});

const app = createInvoicesMcpApp({
  verdict,
  resource,
  authorizationServer,
  stepUpEndpoint: process.env["STEP_UP_ENDPOINT"] ?? `${authorizationServer}/step-up`,
  onVerdictError: (error) => process.stderr.write(`verdict: ${error.code}: ${error.message}\n`),
});
const server = app.listen(port, "127.0.0.1", () => {
  process.stdout.write(`invoices MCP server on ${resource} (tokens from ${authorizationServer})\n`);
});

for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.once(signal, () => {
    server.close(() => {
      verdict.close();
      process.exit(0);
    });
  });
}
