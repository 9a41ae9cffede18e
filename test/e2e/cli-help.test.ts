// `verdict --version` and each command's own help, as a person types them.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { packageRoot } from "../../src/paths.js";
import { runVerdict } from "../support/cli.js";

const commands = ["serve", "check", "config", "dev-token", "policy", "audit", "directory"];
const policySubcommands: Record<string, { own: string[]; others: string[] }> = {
  build: { own: ["--dir", "--out", "--threshold"], others: ["--input", "--run", "--shadow-revision"] },
  test: { own: ["--dir", "--threshold", "--run", "--verbose"], others: ["--out", "--input", "--limit"] },
  eval: {
    own: ["--input", "--bundle", "--state", "--read-state", "--config", "--input-schema", "--timeout-ms", "--memory-mb"],
    others: ["--dir", "--threshold", "--limit"],
  },
  disagreements: { own: ["--config", "--database", "--limit", "--since", "--shadow-revision"], others: ["--input", "--out", "--threshold"] },
};

describe("verdict --version", () => {
  it("prints the version of package.json and exits 0", async () => {
    const manifest = JSON.parse(readFileSync(join(packageRoot, "package.json"), "utf8")) as { version: string };
    const run = await runVerdict(["--version"]);
    expect(run.code).toBe(0);
    expect(run.stdout).toBe(`verdict ${manifest.version}\n`);
  });
});

describe("verdict COMMAND --help", () => {
  it("prints each command's own usage, different for every command", async () => {
    const texts = new Set<string>();
    for (const command of commands) {
      const run = await runVerdict([command, "--help"]);
      expect(run.code, command).toBe(0);
      expect(run.stdout.startsWith(`verdict ${command}`), command).toBe(true);
      texts.add(run.stdout);
    }
    expect(texts.size).toBe(commands.length);
  });

  it("prints each policy subcommand's usage with only its own options", async () => {
    for (const [sub, flags] of Object.entries(policySubcommands)) {
      const run = await runVerdict(["policy", sub, "--help"]);
      expect(run.code, sub).toBe(0);
      expect(run.stdout.startsWith(`verdict policy ${sub}`), sub).toBe(true);
      for (const flag of flags.own) expect(run.stdout, `${sub} lists ${flag}`).toContain(flag);
      for (const flag of flags.others) expect(run.stdout, `${sub} does not list ${flag}`).not.toContain(flag);
    }
  });

  it("lists every policy subcommand in verdict policy --help", async () => {
    const run = await runVerdict(["policy", "--help"]);
    expect(run.code).toBe(0);
    for (const sub of Object.keys(policySubcommands)) expect(run.stdout).toMatch(new RegExp(`^  ${sub} `, "m"));
  });

  it("answers verdict help policy eval as verdict policy eval --help", async () => {
    const [viaHelp, viaFlag] = await Promise.all([runVerdict(["help", "policy", "eval"]), runVerdict(["policy", "eval", "--help"])]);
    expect(viaHelp.code).toBe(0);
    expect(viaHelp.stdout).toBe(viaFlag.stdout);
  });

  it("shows the subcommand's usage with a mistake in its arguments, exit 2", async () => {
    const run = await runVerdict(["policy", "eval"]);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain("--input is required");
    expect(run.stderr).toContain("verdict policy eval --input FILE");
    expect(run.stderr).not.toContain("verdict policy build");
  });
});

describe("the README's reference", () => {
  const readme = readFileSync(join(packageRoot, "README.md"), "utf8");

  /** The reference bullet of a command: from "- `verdict NAME" to the next bullet or paragraph. */
  const bulletOf = (name: string): string => {
    const start = readme.indexOf(`- \`verdict ${name}`);
    expect(start, `README has a reference bullet for verdict ${name}`).toBeGreaterThanOrEqual(0);
    const rest = readme.slice(start + 2);
    const end = rest.search(/\n(- |\n|#)/);
    return end === -1 ? rest : rest.slice(0, end);
  };

  /** The options a usage text lists: each indented line that starts with a flag. */
  const flagsOf = (usage: string) => [...new Set([...usage.matchAll(/^\s+(--[a-z][a-z-]*)/gm)].map((m) => m[1]!))];

  it.each([
    ["serve", ["serve", "--help"]],
    ["check", ["check", "--help"]],
    ["config check", ["config", "--help"]],
    ["dev-token", ["dev-token", "--help"]],
    ["audit query", ["audit", "--help"]],
    ["approvals", ["approvals", "--help"]],
    ["directory load", ["directory", "--help"]],
    ["policy build", ["policy", "build", "--help"]],
    ["policy test", ["policy", "test", "--help"]],
    ["policy eval", ["policy", "eval", "--help"]],
    ["policy disagreements", ["policy", "disagreements", "--help"]],
    ["policy replay", ["policy", "replay", "--help"]],
  ])("lists every flag verdict %s --help lists", async (name, args) => {
    const run = await runVerdict(args);
    expect(run.code).toBe(0);
    const flags = flagsOf(run.stdout);
    if (name !== "config check") expect(flags.length, `${name} --help lists options`).toBeGreaterThan(0);
    const bullet = bulletOf(name);
    for (const flag of flags) expect(bullet, `README's verdict ${name} lists ${flag}`).toMatch(new RegExp(`${flag}(?![a-z-])`));
  });
});
