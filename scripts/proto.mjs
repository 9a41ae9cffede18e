#!/usr/bin/env node
// The wire types (sdk/gen) from proto/ with ts-proto, run by the pinned buf
// (buf.gen.yaml). `npm run proto` writes them; `node scripts/proto.mjs --check`
// (a step of npm test) generates into a temporary directory and fails when the
// committed files differ: the proto and the code that speaks it never drift.
import { spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
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
  process.exit(0);
}

const scratch = mkdtempSync(join(tmpdir(), "verdict-proto-"));
try {
  buf(["--output", scratch]);
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
