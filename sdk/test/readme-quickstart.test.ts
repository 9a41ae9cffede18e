// The README's quick start, run as written against `npm start` (verdict serve
// --profile dev): its shell lines give the key and the token, its code runs as a
// file of its own that imports @verdict/sdk. Only the port differs: the
// development Verdict here listens on a free port instead of 50051.
import { spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { devApiKeyPath } from "../../src/dev/index.js";
import { packageRoot } from "../../src/paths.js";
import { runVerdict, serveVerdict, stopProcess, type ServingVerdict } from "../../test/support/cli.js";
import { mongoUri } from "../../test/support/mongo.js";

const readme = readFileSync(join(packageRoot, "sdk", "README.md"), "utf8");
const home = mkdtempSync(join(tmpdir(), "verdict-quickstart-"));
let server: ServingVerdict;

/** The fenced blocks of one README section, in order. */
function blocks(section: string): { lang: string; code: string }[] {
  const start = readme.indexOf(`## ${section}\n`);
  const end = readme.indexOf("\n## ", start + 1);
  const text = readme.slice(start, end === -1 ? undefined : end);
  return [...text.matchAll(/```(\w+)\n([\s\S]*?)```/g)].map((m) => ({ lang: m[1]!, code: m[2]! }));
}

beforeAll(async () => {
  server = await serveVerdict(["--profile", "dev", "--listen", "127.0.0.1:0"], { VERDICT_HOME: home, MONGODB_URI: mongoUri() });
});
afterAll(async () => {
  if (server) expect(await stopProcess(server.child)).toBe(0);
});

describe("sdk/README.md", () => {
  it("starts with how to install the SDK, before anything else", () => {
    const headings = [...readme.matchAll(/^## (.+)$/gm)].map((m) => m[1]);
    expect(headings.slice(0, 2)).toEqual(["Install", "Quick start"]);
    expect(blocks("Install")[0]!.code).toContain("npm install @verdict/sdk");
  });

  it("runs its quick start against the development profile and gets ALLOW for alice", async () => {
    const [start, code, shell] = blocks("Quick start");
    expect(start!.code.trim()).toBe("npm start");
    expect(readFileSync(join(packageRoot, "package.json"), "utf8")).toContain('"start": "npm run tools && npm run policy:build && node bin/verdict.js serve --profile dev"');
    expect(code!.lang).toBe("js");
    expect(code!.code).toContain('address: "127.0.0.1:50051"');

    // The shell lines: the key file npm start keeps, and the token verdict dev-token prints.
    expect(shell!.code).toContain("$(cat .verdict/dev-api-key)");
    expect(devApiKeyPath(".verdict")).toBe(".verdict/dev-api-key");
    const tokenArgs = /\$\(npx verdict (dev-token [^)]+)\)/.exec(shell!.code)![1]!.split(" ").map((arg) => arg.replace(/^"|"$/g, ""));
    const token = await runVerdict(tokenArgs, { VERDICT_HOME: home });
    expect(token.code).toBe(0);

    // The code, as a module beside the repository's node_modules (where @verdict/sdk resolves).
    const dir = join(packageRoot, ".test-results", "quickstart");
    mkdirSync(dir, { recursive: true });
    const file = join(dir, "quickstart.mjs");
    writeFileSync(file, code!.code.replace("127.0.0.1:50051", server.address));
    const run = await new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
      const env = { ...process.env, VERDICT_API_KEY: readFileSync(devApiKeyPath(home), "utf8").trim(), TOKEN: token.stdout.trim() };
      const child = spawn(process.execPath, [file], { env });
      let stdout = "";
      let stderr = "";
      child.stdout.on("data", (chunk: Buffer) => (stdout += chunk));
      child.stderr.on("data", (chunk: Buffer) => (stderr += chunk));
      child.on("close", (exit) => resolve({ code: exit, stdout, stderr }));
    });
    expect(run.stderr).toBe("");
    expect(run.code).toBe(0);
    expect(run.stdout).toBe("ALLOW alice\n");
  });
});
