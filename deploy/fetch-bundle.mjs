#!/usr/bin/env node
// Fetches a policy bundle into a file, for the init container of the Helm chart's
// bundle.source=http (deploy/helm/verdict). It ships in the Verdict image, which has
// Node but no curl.
//
//   node deploy/fetch-bundle.mjs URL OUT_FILE [SHA256]
//
// A bundle decides who may do what, so its integrity matters: plain http:// is
// accepted only with the SHA-256 to check, and a wrong hash writes nothing. An
// Authorization header can come from a mounted file (BUNDLE_AUTHORIZATION_FILE,
// e.g. "Bearer …"). The file is written next to OUT_FILE and renamed into place, so
// Verdict never reads half a bundle. Exit 0 when written, 1 when not, 2 for bad usage.
import { createHash } from "node:crypto";
import { readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";

const MAX_BYTES = 64 * 1024 * 1024;
const TIMEOUT_MS = 60_000;

function fail(message, code = 1) {
  process.stderr.write(`fetch-bundle: ${message}\n`);
  process.exit(code);
}

const [url, outFile, expected] = process.argv.slice(2);
if (!url || !outFile) fail("usage: node deploy/fetch-bundle.mjs URL OUT_FILE [SHA256]", 2);
let parsed;
try {
  parsed = new URL(url);
} catch {
  fail(`not a URL: ${url}`, 2);
}
if (parsed.protocol !== "https:" && parsed.protocol !== "http:") fail(`only https:// (or http:// with a SHA-256) is fetched, not ${parsed.protocol}`, 2);
if (expected !== undefined && !/^[0-9a-f]{64}$/.test(expected)) fail("SHA256 must be 64 lowercase hex digits", 2);
if (parsed.protocol === "http:" && expected === undefined)
  fail("a bundle over plain http:// needs its SHA-256 (third argument): anyone on the path could change it", 2);

const headers = {};
if (process.env.BUNDLE_AUTHORIZATION_FILE) headers.authorization = readFileSync(process.env.BUNDLE_AUTHORIZATION_FILE, "utf8").trim();

let response;
try {
  response = await fetch(parsed, { headers, redirect: "follow", signal: AbortSignal.timeout(TIMEOUT_MS) });
} catch (error) {
  fail(`cannot fetch ${parsed.origin}${parsed.pathname}: ${error.cause?.code ?? error.message}`);
}
if (!response.ok) fail(`${parsed.origin}${parsed.pathname} answered ${response.status}`);
// A redirect is followed only where the first URL's rule still holds: an https:// URL sent on to plain http://
// brought a body anyone on that path could change, with no SHA-256 to catch it.
if (new URL(response.url).protocol !== "https:" && expected === undefined)
  fail(`${parsed.origin}${parsed.pathname} redirected to plain http://; without the SHA-256 (third argument) nothing is written`);
if (Number(response.headers.get("content-length") ?? 0) > MAX_BYTES) fail(`the bundle is larger than ${MAX_BYTES} bytes`);

// Read as it arrives and stopped past the bound (a response without Content-Length is not held whole first).
const chunks = [];
let received = 0;
for await (const chunk of response.body ?? []) {
  received += chunk.length;
  if (received > MAX_BYTES) fail(`the bundle is larger than ${MAX_BYTES} bytes`);
  chunks.push(chunk);
}
const body = Buffer.concat(chunks);
const actual = createHash("sha256").update(body).digest("hex");
if (expected !== undefined && actual !== expected) fail(`SHA-256 mismatch: expected ${expected}, got ${actual}; nothing written`);

const temp = `${outFile}.${process.pid}.tmp`;
try {
  writeFileSync(temp, body, { mode: 0o644 });
  renameSync(temp, outFile);
} catch (error) {
  rmSync(temp, { force: true });
  fail(`cannot write ${outFile}: ${error.message}`);
}
process.stdout.write(`fetch-bundle: wrote ${outFile} (${body.length} bytes, sha256 ${actual})\n`);
