// The browser the console's tests drive: Debian's Chromium through playwright-core
// (no browser download). When none is installed, the test setup installs it with
// apt (CI machines have none); a machine where that fails gets a test failure that
// says why, never a skipped test.
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";

const CANDIDATES = ["/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome", "/usr/bin/google-chrome-stable"];

function installed(): string | undefined {
  const fromEnv = process.env["CHROMIUM_PATH"];
  if (fromEnv && existsSync(fromEnv)) return fromEnv;
  return CANDIDATES.find((path) => existsSync(path));
}

function run(command: string, args: string[]): { ok: boolean; output: string } {
  const result = spawnSync(command, args, { encoding: "utf8", env: { ...process.env, DEBIAN_FRONTEND: "noninteractive" }, maxBuffer: 64 * 1024 * 1024 });
  return { ok: !result.error && result.status === 0, output: `${result.stdout ?? ""}${result.stderr ?? ""}${result.error?.message ?? ""}` };
}

/** The Chromium executable, installed with apt-get when missing; or why there is none. */
export function ensureChromium(log: (line: string) => void): { path: string } | { problem: string } {
  const found = installed();
  if (found) return { path: found };
  const asRoot = typeof process.getuid === "function" && process.getuid() === 0;
  const apt = (args: string[]) => (asRoot ? run("apt-get", args) : run("sudo", ["-n", "apt-get", ...args]));
  log("test setup: no Chromium found; installing Debian's chromium with apt-get (once)");
  let attempt = apt(["install", "-y", "--no-install-recommends", "chromium"]);
  if (!attempt.ok) {
    apt(["update"]);
    attempt = apt(["install", "-y", "--no-install-recommends", "chromium"]);
  }
  const path = installed();
  if (path) return { path };
  return {
    problem: `no Chromium, and apt-get install chromium failed (install it, or set CHROMIUM_PATH): ${attempt.output.trim().split("\n").slice(-5).join(" / ")}`,
  };
}
