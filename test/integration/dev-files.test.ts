// The development files every process of `verdict serve --profile dev` writes (the
// issuer's JWKS): a process reading one while another rewrites it must see a whole
// file. A plain write truncates first, and a clean checkout's run once failed to
// start with "cannot read JWKS file …: Unexpected end of JSON input".
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { describe, expect, it } from "vitest";
import { writeFileAtomically } from "../../src/dev/files.js";

const FILES_MODULE = pathToFileURL(join(import.meta.dirname, "../../src/dev/files.ts")).href;

/** A separate process rewriting `path` with two large JSON documents in turn for `ms`. */
function rewriter(path: string, ms: number): Promise<number> {
  const code = `
    const { writeFileAtomically } = await import(${JSON.stringify(FILES_MODULE)});
    const documents = ["a", "b"].map((fill) => JSON.stringify({ keys: Array.from({ length: 2000 }, (_, i) => ({ kid: fill + i })) }));
    const until = Date.now() + ${ms};
    for (let i = 0; Date.now() < until; i++) writeFileAtomically(${JSON.stringify(path)}, documents[i % 2]);
  `;
  const child = spawn(process.execPath, ["--import", "tsx", "--input-type=module", "-e", code], { stdio: "inherit" });
  return new Promise((resolve) => child.on("exit", (status) => resolve(status ?? 1)));
}

describe("writing a development file that other processes read", () => {
  it("never lets a reader see the file cut short while two other processes rewrite it", async () => {
    const path = join(mkdtempSync(join(tmpdir(), "verdict-dev-files-")), "dev-issuer.jwks.json");
    writeFileAtomically(path, JSON.stringify({ keys: [] }));
    const writers = [rewriter(path, 1_500), rewriter(path, 1_500)];
    let reads = 0;
    let torn = 0;
    let done = false;
    void Promise.all(writers).then(() => (done = true));
    while (!done) {
      try {
        JSON.parse(readFileSync(path, "utf8"));
      } catch {
        torn += 1;
      }
      reads += 1;
      if (reads % 50 === 0) await new Promise((resolve) => setImmediate(resolve));
    }
    expect(await Promise.all(writers)).toEqual([0, 0]);
    expect(reads).toBeGreaterThan(100);
    expect(torn).toBe(0);
  });

  it("leaves a file that already holds the contents as it is", () => {
    const path = join(mkdtempSync(join(tmpdir(), "verdict-dev-files-")), "dev-issuer.jwks.json");
    writeFileAtomically(path, "{}\n");
    const before = statSync(path);
    writeFileAtomically(path, "{}\n");
    expect(statSync(path).ino).toBe(before.ino);
    writeFileAtomically(path, '{"keys":[]}\n');
    expect(readFileSync(path, "utf8")).toBe('{"keys":[]}\n');
  });
});
