// The SDK ships the wire contract it speaks. The repository keeps one copy, in
// ../proto; this places it inside the package (sdk/proto, ignored by git).
import { cpSync, rmSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const sdk = join(dirname(fileURLToPath(import.meta.url)), "..");
rmSync(join(sdk, "proto"), { recursive: true, force: true });
cpSync(join(sdk, "..", "proto"), join(sdk, "proto"), { recursive: true });
