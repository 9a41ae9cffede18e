// Repository hygiene a user or a packager relies on: the license package.json
// names, one Node.js range for every package, the documents people look for.
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { packageRoot } from "../../src/paths.js";

const manifest = (dir: string) =>
  JSON.parse(readFileSync(join(packageRoot, dir, "package.json"), "utf8")) as {
    name: string;
    license?: string;
    engines?: { node?: string };
    workspaces?: string[];
  };
const root = manifest(".");
// As npm reads the globs: a directory is a workspace when it has a package.json (examples/deploy is files only).
const workspaces = root.workspaces!.flatMap((pattern) =>
  pattern.endsWith("/*")
    ? readdirSync(join(packageRoot, pattern.slice(0, -2)))
        .map((name) => `${pattern.slice(0, -2)}/${name}`)
        .filter((dir) => existsSync(join(packageRoot, dir, "package.json")))
    : [pattern],
);

describe("repository", () => {
  it("ships the full Apache License 2.0 text that every package.json names", () => {
    const license = readFileSync(join(packageRoot, "LICENSE"), "utf8");
    expect(license).toMatch(
      /^\s*Apache License\s+Version 2\.0, January 2004\s+http:\/\/www\.apache\.org\/licenses\/\s+TERMS AND CONDITIONS FOR USE, REPRODUCTION, AND DISTRIBUTION/,
    );
    for (const section of [
      "1. Definitions.",
      "4. Redistribution.",
      "9. Accepting Warranty or Additional Liability.",
      "END OF TERMS AND CONDITIONS",
      "APPENDIX: How to apply the Apache License to your work.",
    ]) {
      expect(license).toContain(section);
    }
    for (const dir of [".", ...workspaces]) expect(manifest(dir).license, dir).toBe("Apache-2.0");
  });

  it("declares one Node.js range (20.19+, 22.12+, 24) in every package", () => {
    expect(workspaces).toEqual(expect.arrayContaining(["sdk", "examples/invoices-api"]));
    for (const dir of [".", ...workspaces]) expect(manifest(dir).engines?.node, dir).toBe("^20.19.0 || ^22.12.0 || >=24");
  });

  it("has a changelog, contributing guide and security policy, linked where people look", () => {
    expect(readFileSync(join(packageRoot, "CHANGELOG.md"), "utf8")).toMatch(/^# Changelog[\s\S]*## \[Unreleased\][\s\S]*## \[0\.1\.0\]/);
    expect(readFileSync(join(packageRoot, "SECURITY.md"), "utf8")).toMatch(
      /## Reporting a vulnerability[\s\S]*## Supported versions|## Supported versions[\s\S]*## Reporting a vulnerability/,
    );
    expect(readFileSync(join(packageRoot, "CONTRIBUTING.md"), "utf8")).toContain("SECURITY.md");
    expect(readFileSync(join(packageRoot, "README.md"), "utf8")).toContain("(docs/deployment.md)");
    expect(existsSync(join(packageRoot, "docs", "deployment.md"))).toBe(true);
  });
});
