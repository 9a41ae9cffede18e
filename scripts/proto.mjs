#!/usr/bin/env node
// The wire types (sdk/gen) from proto/ with ts-proto, run by the pinned buf
// (buf.gen.yaml). `npm run proto` writes them; `node scripts/proto.mjs --check`
// (a step of npm test) generates into a temporary directory and fails when the
// committed files differ: the proto and the code that speaks it never drift.
import { spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const generated = join(root, "sdk", "gen");
const check = process.argv.includes("--check");

function buf(args) {
  const result = spawnSync(join(root, "node_modules", ".bin", "buf"), ["generate", ...args], { cwd: root, stdio: "inherit" });
  if (result.error || result.status !== 0) process.exit(1);
}

// ts-proto copies a Struct's keys by assignment (fields[key] = value), and the key
// "__proto__" then sets the object's prototype instead of adding a member: the key
// vanished on the wire, unseen by Verdict and by the policy. Each copy defines the
// member instead, so Verdict sees the key and refuses it (src/server/validate.ts),
// as AuthZEN's JSON parser does. A generator that no longer writes these lines fails
// here, rather than dropping the key again unnoticed.
const OWN_KEYS = {
  "google/protobuf/struct.ts": [
    [
      "message.fields[entry1.key] = entry1.value;",
      "globalThis.Object.defineProperty(message.fields, entry1.key, { value: entry1.value, enumerable: true, writable: true, configurable: true });",
    ],
    [
      "struct.fields[key] = object[key];",
      "globalThis.Object.defineProperty(struct.fields, key, { value: object[key], enumerable: true, writable: true, configurable: true });",
    ],
    [
      "object[key] = message.fields[key];",
      "globalThis.Object.defineProperty(object, key, { value: message.fields[key], enumerable: true, writable: true, configurable: true });",
    ],
  ],
};

/** Applies OWN_KEYS to the files generated into `dir`. */
function ownKeys(dir) {
  for (const [file, replacements] of Object.entries(OWN_KEYS)) {
    const path = join(dir, file);
    let text = readFileSync(path, "utf8");
    for (const [from, to] of replacements) {
      if (text.split(from).length !== 2) {
        process.stderr.write(`${file}: expected one "${from}" to patch (see OWN_KEYS in scripts/proto.mjs)\n`);
        process.exit(1);
      }
      text = text.replace(from, to);
    }
    writeFileSync(path, text);
  }
}

function files(dir) {
  const out = new Map();
  const walk = (at) => {
    for (const name of readdirSync(at)) {
      const path = join(at, name);
      if (statSync(path).isDirectory()) walk(path);
      else out.set(relative(dir, path), readFileSync(path, "utf8"));
    }
  };
  walk(dir);
  return out;
}

if (!check) {
  rmSync(generated, { recursive: true, force: true });
  buf([]);
  ownKeys(generated);
  process.exit(0);
}

const scratch = mkdtempSync(join(tmpdir(), "verdict-proto-"));
try {
  buf(["--output", scratch]);
  ownKeys(join(scratch, "sdk", "gen"));
  const expected = files(join(scratch, "sdk", "gen"));
  const committed = files(generated);
  const differ = [...new Set([...expected.keys(), ...committed.keys()])].filter((file) => expected.get(file) !== committed.get(file));
  if (differ.length > 0) {
    process.stderr.write(`sdk/gen is not what proto/ generates (run npm run proto): ${differ.join(", ")}\n`);
    process.exit(1);
  }
  process.stderr.write(`sdk/gen matches proto/ (${expected.size} files)\n`);
} finally {
  rmSync(scratch, { recursive: true, force: true });
}
