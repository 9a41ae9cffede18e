// The test run's own temporary directory: one a killed run left (its process gone) is
// removed at the next run's start; a running run's, and anything else, is left alone.
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { makeRunDirectory, removeAbandonedRunDirectories } from "../setup/run-directory.js";

let parent: string;
beforeEach(() => {
  parent = mkdtempSync(join(tmpdir(), "run-directories-"));
});
afterEach(() => rmSync(parent, { recursive: true, force: true }));

describe("the test run's temporary directory", () => {
  it("is removed by the next run when the run that made it was killed, and kept while that run lives", () => {
    const ended = spawnSync(process.execPath, ["-e", ""]).pid;
    expect(ended).toBeGreaterThan(0);
    const abandoned = `verdict-tests-${ended}-abc123`;
    mkdirSync(join(parent, abandoned, "nested"), { recursive: true });
    const ours = makeRunDirectory(parent);
    mkdirSync(join(parent, "verdict-tests-unnamed"));
    mkdirSync(join(parent, "something-else"));

    expect(removeAbandonedRunDirectories(parent)).toEqual([abandoned]);
    expect(existsSync(ours)).toBe(true);
    expect(readdirSync(parent).sort()).toEqual([ours.slice(parent.length + 1), "something-else", "verdict-tests-unnamed"].sort());
    expect(removeAbandonedRunDirectories(parent)).toEqual([]);
  });
});
