// Hot reload: the served bundle file changes under a running Verdict. The new
// revision is loaded off the request path and swapped in atomically; a bundle that
// does not load (corrupt, half written, oversized) leaves the last good one serving
// and says why (log, metrics), without holding what it refused in memory.
import { appendFileSync, chmodSync, copyFileSync, createReadStream, mkdirSync, mkdtempSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pipeline } from "node:stream/promises";
import { createGunzip } from "node:zlib";
import { extract } from "tar-stream";
import { afterAll, beforeAll, describe, expect, inject, it, vi } from "vitest";
import { createMetrics, silentLogger } from "../../src/observability/index.js";
import { DEFAULT_BOUNDS, keepCopy, loadBundle, PolicyRuntime, type BundleCopies } from "../../src/policy/index.js";
import { buildTestBundle, gzipBomb, peakRssGrowth, policiesWithData } from "../support/bundles.js";
import { captureLog } from "../support/log.js";
import { startTestVerdict, type TestVerdict } from "../support/verdict.js";

let a: { path: string; revision: string };
let b: { path: string; revision: string };
const dir = mkdtempSync(join(tmpdir(), "verdict-reload-"));
const served = join(dir, "bundle.tar.gz");

/** Replaces the served file the way a deployment should: write beside it, then rename. */
function deploy(source: string) {
  const next = join(dir, `.next-${Math.random().toString(36).slice(2)}`);
  copyFileSync(source, next);
  renameSync(next, served);
}

beforeAll(async () => {
  a = { path: inject("bundlePath"), revision: "" };
  // B lowers the per-transaction limit from 500 to 300
  b = await buildTestBundle(policiesWithData(["settings", "limits", "payments:transfer", "per_transaction"], 300));
  copyFileSync(a.path, served);
});

describe("hot reload of the served bundle", () => {
  let t: TestVerdict;
  const captured = captureLog();

  beforeAll(async () => {
    t = await startTestVerdict({ config: { bundle: served }, log: captured.log, watchOptions: { debounceMs: 50, pollMs: 250 } });
    a.revision = t.verdict.policyRevision;
  });
  afterAll(async () => {
    await t?.stop();
  });

  const transfer = async (amount: number) =>
    t.client.check({ token: await t.issuer.token({ scope: "payments:write" }), action: "payments:transfer", context: { amount }, dryRun: true });

  it("serves the bundle it started with and names its revision in every decision", async () => {
    expect(a.revision).not.toBe(b.revision);
    const response = await transfer(400);
    expect(response.decision).toBe("ALLOW");
    expect(response.policy_revision).toBe(a.revision);
  });

  it("swaps in the new revision when the bundle file is replaced, without a restart", async () => {
    deploy(b.path);
    await vi.waitFor(() => expect(t.verdict.policyRevision).toBe(b.revision), { timeout: 10_000, interval: 50 });
    const response = await transfer(400);
    expect(response.decision).toBe("DENY");
    expect(response.reasons.map((r) => r.code)).toEqual(["limit_exceeded"]);
    expect(response.policy_revision).toBe(b.revision);
    expect(captured.lines().some((l) => l["msg"] === "policy bundle reloaded" && l["revision"] === b.revision && l["previousRevision"] === a.revision)).toBe(
      true,
    );
  });

  it("keeps the last good revision when a new bundle does not load, and says why in the log and the metrics", async () => {
    const garbage = join(dir, "garbage");
    writeFileSync(garbage, "this is not a gzipped tarball");
    deploy(garbage);
    await vi.waitFor(
      async () => expect(await t.verdict.metrics.registry.metrics()).toMatch(/verdict_policy_reload_failures_total\{bundle="active",reason="invalid"\} 1/),
      { timeout: 10_000, interval: 50 },
    );
    const failure = captured.lines().find((l) => l["msg"] === "policy bundle did not load; the last good revision keeps serving");
    expect(failure).toMatchObject({ bundle: "active", reason: "invalid", servingRevision: b.revision });
    expect(String(failure?.["err"])).toContain("cannot read policy bundle");
    const response = await transfer(250);
    expect(response.decision).toBe("ALLOW");
    expect(response.policy_revision).toBe(b.revision);
  });

  it("shows the serving revision and the failure on GET /metrics", async () => {
    const metrics = await fetch(`http://127.0.0.1:${t.verdict.adminPort}/metrics`);
    expect(metrics.status).toBe(200);
    expect(metrics.headers.get("content-type")).toContain("text/plain");
    const text = await metrics.text();
    expect(text).toContain(`verdict_policy_revision{bundle="active",revision="${b.revision}"} 1`);
    expect(text).not.toContain(`revision="${a.revision}"`);
    expect(text).toMatch(/verdict_policy_reloads_total\{bundle="active",result="failed"\} 1/);
    expect((await fetch(`http://127.0.0.1:${t.verdict.adminPort}/other`)).status).toBe(404);
  });

  it("loads a good bundle written after a bad one", async () => {
    deploy(a.path);
    await vi.waitFor(() => expect(t.verdict.policyRevision).toBe(a.revision), { timeout: 10_000, interval: 50 });
    expect((await transfer(400)).decision).toBe("ALLOW");
  });

  it("gives every decision made during a swap exactly one revision, and the answer of that revision", async () => {
    // a user of its own: the others' transfers above count in the live daily spend
    const token = await t.issuer.token({ scope: "payments:write", sub: "user-swap" });
    const responses = [];
    let swapped = false;
    let batchesAfterSwap = 0;
    for (let batch = 0; batch < 400 && batchesAfterSwap < 3; batch++) {
      const pending = Array.from({ length: 20 }, () => t.client.check({ token, action: "payments:transfer", context: { amount: 400 }, dryRun: true }));
      if (batch === 1) deploy(b.path);
      const answers = await Promise.all(pending);
      responses.push(...answers);
      if (answers.some((r) => r.policy_revision === b.revision)) swapped = true;
      if (swapped) batchesAfterSwap += 1;
    }
    expect(swapped).toBe(true);
    const revisions = new Set(responses.map((r) => r.policy_revision));
    expect([...revisions].sort()).toEqual([a.revision, b.revision].sort());
    for (const response of responses) {
      // A (limit 500) allows 400, B (limit 300) denies it: never a mix, never an error
      if (response.policy_revision === a.revision) expect(response.decision).toBe("ALLOW");
      else expect(response.reasons.map((r) => r.code)).toEqual(["limit_exceeded"]);
    }
  });

  /** How many reloads of the active bundle failed so far, as GET /metrics counts them. */
  const reloadFailures = async () =>
    [...(await t.verdict.metrics.registry.metrics()).matchAll(/verdict_policy_reload_failures_total\{bundle="active",reason="[a-z_]+"\} (\d+)/g)].reduce(
      (sum, match) => sum + Number(match[1]),
      0,
    );

  it("keeps the last good revision while a bundle is half written in place, and loads it once the write completes", async () => {
    const serving = t.verdict.policyRevision;
    const current = serving === a.revision ? a : b;
    const other = serving === a.revision ? b : a;
    const bytes = readFileSync(other.path);
    const failuresBefore = await reloadFailures();
    // a copy that is not written beside and renamed: the watcher sees the file while it is being written
    writeFileSync(served, bytes.subarray(0, Math.floor(bytes.length / 2)));
    await vi.waitFor(async () => expect(await reloadFailures()).toBe(failuresBefore + 1), { timeout: 10_000, interval: 50 });
    const during = await transfer(100);
    expect(during.decision).toBe("ALLOW");
    expect(during.policy_revision).toBe(current.revision);
    appendFileSync(served, bytes.subarray(Math.floor(bytes.length / 2)));
    await vi.waitFor(() => expect(t.verdict.policyRevision).toBe(other.revision), { timeout: 10_000, interval: 50 });
    expect((await transfer(100)).policy_revision).toBe(other.revision);
  });

  it("refuses an oversized bundle (1 MB that expands to 1 GiB) without holding it, serving the last good revision throughout", async () => {
    const serving = t.verdict.policyRevision;
    const failuresBefore = await reloadFailures();
    const token = await t.issuer.token({ scope: "payments:write" });
    const answers: string[] = [];
    const growth = await peakRssGrowth(async () => {
      deploy(gzipBomb([["policy.wasm", 1024]]));
      // decisions go on while the watcher reads the bundle
      while ((await reloadFailures()) === failuresBefore) {
        const response = await t.client.check({ token, action: "payments:transfer", context: { amount: 100 }, dryRun: true });
        answers.push(`${response.decision} ${response.policy_revision}`);
      }
    });
    expect(growth).toBeLessThan(200 * 1024 * 1024);
    expect(answers.length).toBeGreaterThan(0);
    expect(new Set(answers)).toEqual(new Set([`ALLOW ${serving}`]));
    expect(t.verdict.policyRevision).toBe(serving);
    const failure = captured.lines().findLast((l) => l["msg"] === "policy bundle did not load; the last good revision keeps serving");
    expect(String(failure?.["err"])).toMatch(/expands to more than 64 MiB/);
  });
});

describe("a bundle directory", () => {
  async function unpack(tarball: string, into: string) {
    mkdirSync(into, { recursive: true });
    const untar = extract();
    untar.on("entry", (header, stream, next) => {
      const chunks: Buffer[] = [];
      stream.on("data", (c: unknown) => chunks.push(c as Buffer));
      stream.on("end", () => {
        const name = header.name.replace(/^\.?\//, "");
        if (header.type === "file" && !name.includes("/")) writeFileSync(join(into, name), Buffer.concat(chunks));
        next();
      });
    });
    await pipeline(createReadStream(tarball), createGunzip(), untar);
  }

  it("is loaded, and reloaded when its files are replaced", async () => {
    const bundleDir = join(mkdtempSync(join(tmpdir(), "verdict-bundle-dir-")), "bundle");
    await unpack(a.path, bundleDir);
    const runtime = await PolicyRuntime.start({
      bundlePath: bundleDir,
      bounds: { ...DEFAULT_BOUNDS, workers: 1 },
      watch: false,
      log: silentLogger(),
      metrics: createMetrics(),
    });
    try {
      expect(runtime.current().revision).toBe(a.revision);
      expect(await runtime.reload()).toEqual({ active: { result: "unchanged", revision: a.revision } });
      await unpack(b.path, bundleDir);
      expect(await runtime.reload()).toEqual({ active: { result: "loaded", revision: b.revision } });
      expect(runtime.current().revision).toBe(b.revision);
    } finally {
      await runtime.close();
    }
  });

  it("refuses to start when the active bundle does not load", async () => {
    const empty = mkdtempSync(join(tmpdir(), "verdict-empty-"));
    await expect(
      PolicyRuntime.start({ bundlePath: empty, bounds: DEFAULT_BOUNDS, watch: false, log: silentLogger(), metrics: createMetrics() }),
    ).rejects.toThrow(/no policy\.wasm/);
  });
});

/** A private copies directory holding a copy of the bundle at `source`, and a bundle path `file` in it, written by `serve`. */
async function withCopy(source: string, file: string, serve: (path: string) => void) {
  const dir = mkdtempSync(join(tmpdir(), "verdict-copies-"));
  const copy = await keepCopy(await loadBundle(source), dir);
  const path = join(dir, file);
  serve(path);
  return { dir, copy, path };
}

/** A policy runtime of one process of several: its copies, as its primary would hand them over. */
const startWithCopies = (
  paths: { bundlePath: string; shadowBundlePath?: string },
  copies: Partial<BundleCopies> & { dir: string },
  log = silentLogger(),
  watch = true,
) =>
  PolicyRuntime.start({
    ...paths,
    bounds: { ...DEFAULT_BOUNDS, workers: 1 },
    watch,
    log,
    metrics: createMetrics(),
    copies: { kept: () => undefined, ...copies },
  });

describe("copies of the active bundle (a Verdict of several processes)", () => {
  const start = (bundlePath: string, copies: Partial<BundleCopies> & { dir: string }, log = silentLogger(), watch = true) =>
    startWithCopies({ bundlePath }, copies, log, watch);

  it("keeps a copy of each bundle loaded from its path, which loads as the same revision", async () => {
    const dir = mkdtempSync(join(tmpdir(), "verdict-copies-"));
    const path = join(dir, "served.tar.gz");
    copyFileSync(a.path, path);
    const kept: string[] = [];
    const runtime = await start(path, { dir, kept: (copy) => kept.push(copy) });
    try {
      await vi.waitFor(() => expect(kept).toHaveLength(1));
      expect((await loadBundle(kept[0] as string)).revision).toBe(runtime.current().revision);
      copyFileSync(b.path, path);
      await runtime.reload();
      await vi.waitFor(() => expect(kept).toHaveLength(2));
      expect((await loadBundle(kept[1] as string)).revision).toBe(b.revision);
      // The same revision again is the same copy, written once.
      expect(await keepCopy(await loadBundle(b.path), dir)).toBe(kept[1]);
    } finally {
      await runtime.close();
    }
  });

  /** A private directory with a copy of bundle A (the last good one) and the served path in it, written by `serve`. */
  const withCopyOfA = async (serve: (path: string) => void) => {
    const { dir, copy, path } = await withCopy(a.path, "served.tar.gz", serve);
    return { dir, lastGood: copy, path };
  };
  const broken = (path: string) => writeFileSync(path, "not a bundle");

  it("starts on the last good copy when the path does not load, and takes the path's bundle once it loads", async () => {
    const { dir, lastGood, path } = await withCopyOfA(broken);
    const kept: string[] = [];
    const captured = captureLog();
    const runtime = await start(path, { dir, lastGood, kept: (copy) => kept.push(copy) }, captured.log);
    try {
      expect(runtime.current().revision).toBe(a.revision);
      expect(captured.lines().find((l) => String(l["msg"]).startsWith("serving the last good policy bundle"))).toMatchObject({ copy: lastGood, source: path });
      // Unchanged, the path is not tried again; replaced, it loads, and is copied in turn.
      expect((await runtime.reload()).active).toMatchObject({ result: "failed" });
      copyFileSync(b.path, path);
      expect((await runtime.reload()).active).toEqual({ result: "loaded", revision: b.revision });
      await vi.waitFor(() => expect(kept).toHaveLength(1));
      expect(kept[0]).not.toBe(lastGood);
    } finally {
      await runtime.close();
    }
  });

  it("with bundle_watch off, starts on the copy the others serve, whatever the path holds by now", async () => {
    const { dir, lastGood, path } = await withCopyOfA((path) => copyFileSync(b.path, path));
    const kept: string[] = [];
    const captured = captureLog();
    const unwatched = await start(path, { dir, lastGood, kept: (copy) => kept.push(copy) }, captured.log, false);
    try {
      expect(unwatched.current().revision).toBe(a.revision);
      expect(captured.lines().find((l) => String(l["msg"]).startsWith("serving the policy bundle this Verdict's processes serve"))).toMatchObject({
        copy: lastGood,
      });
    } finally {
      await unwatched.close();
    }
    // Watched, the path's bundle is served (the others reload it too).
    const watched = await start(path, { dir, lastGood, kept: (copy) => kept.push(copy) });
    try {
      expect(watched.current().revision).toBe(b.revision);
      // Without a copy (the first processes of a Verdict), the path is loaded, watched or not.
      const first = await start(path, { dir }, silentLogger(), false);
      expect(first.current().revision).toBe(b.revision);
      await first.close();
    } finally {
      await watched.close();
    }
  });

  it("refuses to start as before when there is no copy, or the copy does not load either", async () => {
    const { dir, path } = await withCopyOfA(broken);
    await expect(start(path, { dir })).rejects.toThrow(/the policy bundle .* does not load/);
    await expect(start(path, { dir, lastGood: join(dir, "gone") })).rejects.toThrow(/the policy bundle .*served\.tar\.gz does not load/);
  });

  it("trusts no copy in a directory others may write (one made again by someone else after a cleaner removed it)", async () => {
    const { dir, lastGood, path } = await withCopyOfA(broken);
    chmodSync(dir, 0o777);
    await expect(keepCopy(await loadBundle(b.path), dir)).rejects.toThrow(/not a directory private to this user/);
    const captured = captureLog();
    await expect(start(path, { dir, lastGood }, captured.log)).rejects.toThrow(/does not load/);
    expect(captured.lines().find((l) => l["msg"] === "the copy of the policy bundle this Verdict serves does not load")?.["err"]).toMatch(
      /not a directory private/,
    );
  });
});

describe("copies of the shadow bundle (a Verdict of several processes)", () => {
  // (the first describe's beforeAll sets a.revision; this one stands alone when run by itself)
  const activeRevision = async () => (await loadBundle(a.path)).revision;
  const start = (shadowBundlePath: string, copies: Partial<BundleCopies> & { dir: string }, log = silentLogger(), watch = true) =>
    startWithCopies({ bundlePath: a.path, shadowBundlePath }, copies, log, watch);
  /** A private directory with a copy of bundle B (the shadow's last good one) and the shadow's path in it, written by `serve`. */
  const withShadowCopyOfB = async (serve: (path: string) => void) => {
    const { dir, copy, path } = await withCopy(b.path, "shadow.tar.gz", serve);
    return { dir, lastGoodShadow: copy, path };
  };

  it("keeps a copy of the shadow loaded from its path, told apart from the active bundle's", async () => {
    const { dir, path } = await withShadowCopyOfB((path) => copyFileSync(b.path, path));
    const kept: [string, string][] = [];
    const runtime = await start(path, { dir, kept: (copy, role) => kept.push([copy, role]) });
    try {
      await vi.waitFor(() => expect(kept.map(([, role]) => role).sort()).toEqual(["active", "shadow"]));
      const [shadowCopy] = kept.find(([, role]) => role === "shadow") as [string, string];
      expect((await loadBundle(shadowCopy)).revision).toBe(runtime.shadow()?.revision);
      expect(runtime.shadow()?.revision).toBe(b.revision);
    } finally {
      await runtime.close();
    }
  });

  it("starts on the shadow's last good copy when its path does not load, and takes the path's bundle once it loads", async () => {
    const { dir, lastGoodShadow, path } = await withShadowCopyOfB((path) => writeFileSync(path, "not a bundle"));
    const captured = captureLog();
    const runtime = await start(path, { dir, lastGoodShadow }, captured.log);
    try {
      expect(runtime.current().revision).toBe(await activeRevision());
      expect(runtime.shadow()?.revision).toBe(b.revision);
      expect(captured.lines().find((l) => String(l["msg"]).startsWith("serving the last good policy bundle"))).toMatchObject({
        bundle: "shadow",
        copy: lastGoodShadow,
        source: path,
      });
      copyFileSync(a.path, path);
      expect((await runtime.reload()).shadow).toEqual({ result: "loaded", revision: await activeRevision() });
    } finally {
      await runtime.close();
    }
  });

  it("with bundle_watch off, starts on the shadow copy the others compare against, whatever the path holds by now", async () => {
    const { dir, lastGoodShadow, path } = await withShadowCopyOfB((path) => copyFileSync(a.path, path));
    const unwatched = await start(path, { dir, lastGoodShadow }, silentLogger(), false);
    try {
      expect(unwatched.shadow()?.revision).toBe(b.revision);
    } finally {
      await unwatched.close();
    }
  });

  it("starts without a shadow, as before, when neither its path nor a copy loads", async () => {
    const { dir, path } = await withShadowCopyOfB((path) => writeFileSync(path, "not a bundle"));
    const runtime = await start(path, { dir, lastGoodShadow: join(dir, "gone") });
    try {
      expect(runtime.current().revision).toBe(await activeRevision());
      expect(runtime.shadow()).toBeUndefined();
    } finally {
      await runtime.close();
    }
  });
});
