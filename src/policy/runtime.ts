// The policies a running Verdict serves: the active bundle and, optionally, a
// shadow (candidate) bundle. Each is loaded off the request path and swapped in
// atomically when its file changes; a bundle that fails to load leaves the last
// good one serving, and says why in the log and the metrics. In a Verdict of several
// processes, each load of a bundle is copied (copies.ts), and a process started while
// a bundle's path does not load serves its last good copy: the active bundle's, or it
// would not start; the shadow's, so every process compares against the same candidate.
import type { ObligationRegistry } from "../obligations/index.js";
import type { BundleRole, Logger, Metrics, ReloadFailure } from "../observability/index.js";
import { VerdictError } from "../errors/index.js";
import { BundleError, loadBundle, type Bundle } from "./bundle.js";
import { keepCopy, loadCopy, type BundleCopies } from "./copies.js";
import { PolicyEngine } from "./engine.js";
import type { EvaluationBounds } from "./pool.js";
import { bundleFingerprint, watchBundle, type BundleWatcher, type WatchOptions } from "./watch.js";

export interface PolicyRuntimeOptions {
  bundlePath: string;
  shadowBundlePath?: string | undefined;
  bounds: EvaluationBounds;
  /** Watch the bundle paths and reload on change. */
  watch: boolean;
  watchOptions?: Partial<WatchOptions>;
  log: Logger;
  metrics: Metrics;
  /** The obligation types decisions may ask for (default: reserve, rate, once). */
  obligations?: ObligationRegistry;
  /** A process of several: where the bundles it loads are copied, and the last good copies to start on. */
  copies?: BundleCopies | undefined;
}

export type ReloadOutcome =
  { result: "loaded"; revision: string } | { result: "unchanged"; revision: string } | { result: "failed"; reason: ReloadFailure; error: string };

const DEFAULT_WATCH: WatchOptions = { debounceMs: 150, pollMs: 2_000 };

/** One bundle role: the engine it serves now and how to replace it. */
class ServedBundle {
  private current: PolicyEngine | undefined;
  private loadedFingerprint: string | undefined;
  private failedFingerprint: string | undefined;
  private running: Promise<ReloadOutcome> | undefined;
  private again = false;

  constructor(
    readonly role: BundleRole,
    readonly path: string,
    private readonly options: PolicyRuntimeOptions,
  ) {}

  get engine(): PolicyEngine | undefined {
    return this.current;
  }

  /** Reloads when the files changed since the last attempt; one reload at a time. */
  reload(): Promise<ReloadOutcome> {
    if (this.running) {
      this.again = true;
      return this.running;
    }
    this.running = this.attempt().finally(() => {
      this.running = undefined;
      if (this.again) {
        this.again = false;
        void this.reload();
      }
    });
    return this.running;
  }

  async close(): Promise<void> {
    await this.running?.catch(() => undefined);
    const engine = this.current;
    this.current = undefined;
    await engine?.close();
  }

  private async attempt(): Promise<ReloadOutcome> {
    const { log, metrics } = this.options;
    let fingerprint: string;
    let unreadable: string | undefined;
    try {
      fingerprint = bundleFingerprint(this.path);
    } catch (error) {
      unreadable = `cannot read ${this.path}: ${(error as Error).message}`;
      fingerprint = `unreadable: ${unreadable}`;
    }
    if (this.current && fingerprint === this.loadedFingerprint) return { result: "unchanged", revision: this.current.revision };
    // A bundle that failed is not retried until its files change again (no log flood from the poll).
    if (fingerprint === this.failedFingerprint) return { result: "failed", reason: "does_not_load", error: "unchanged since it failed" };
    if (unreadable !== undefined) return this.failed("unreadable", unreadable, fingerprint);

    let bundle;
    try {
      bundle = await loadBundle(this.path);
    } catch (error) {
      return this.failed(error instanceof BundleError ? "invalid" : "unreadable", (error as Error).message, fingerprint);
    }
    if (this.current && bundle.revision === this.current.revision) {
      this.loadedFingerprint = fingerprint;
      metrics.policyReloads.inc({ bundle: this.role, result: "unchanged" });
      return { result: "unchanged", revision: bundle.revision };
    }
    let engine: PolicyEngine;
    try {
      engine = await this.engineFor(bundle);
    } catch (error) {
      return this.failed("does_not_load", (error as Error).message, fingerprint);
    }

    const previous = this.swap(engine);
    this.loadedFingerprint = fingerprint;
    this.failedFingerprint = undefined;
    metrics.policyReloads.inc({ bundle: this.role, result: "loaded" });
    log.info(
      { bundle: this.role, source: this.path, revision: engine.revision, ...(previous ? { previousRevision: previous.revision } : {}) },
      previous ? "policy bundle reloaded" : "policy bundle loaded",
    );
    this.keep(bundle);
    return { result: "loaded", revision: engine.revision };
  }

  /**
   * The first load: from the path; in a process of several, the copy the others serve
   * when the path is not watched, or the last good copy when the path does not load.
   * Failed when none of them loads.
   */
  async start(copies: BundleCopies | undefined, watch: boolean): Promise<ReloadOutcome> {
    if (!watch && (await this.serveCopy(copies, false))) return this.servingCopy();
    const outcome = await this.reload();
    if (outcome.result === "failed" && (await this.serveCopy(copies, true))) return this.servingCopy();
    return outcome;
  }

  private servingCopy(): ReloadOutcome {
    return { result: "loaded", revision: (this.current as PolicyEngine).revision };
  }

  /**
   * At the start of a process of several: serves the copy of the bundle the others
   * serve, kept by one of them. `pathFailed`: the bundle's path did not load, and what
   * loads from it next (it stays watched) replaces the copy. Otherwise the path is not
   * watched (bundle_watch off: the bundle is loaded once, when Verdict starts), so a
   * process that replaces one serves what the others do, not what the path holds by
   * now. False when there is no copy, or it does not load.
   */
  private async serveCopy(copies: BundleCopies | undefined, pathFailed: boolean): Promise<boolean> {
    const { log } = this.options;
    const lastGood = this.role === "active" ? copies?.lastGood : copies?.lastGoodShadow;
    if (!lastGood || this.current) return false;
    let engine: PolicyEngine;
    try {
      engine = await this.engineFor(await loadCopy(lastGood));
    } catch (error) {
      log.error({ bundle: this.role, copy: lastGood, err: (error as Error).message }, "the copy of the policy bundle this Verdict serves does not load");
      return false;
    }
    this.swap(engine);
    const fields = { bundle: this.role, source: this.path, copy: lastGood, revision: engine.revision };
    if (pathFailed) log.warn(fields, "serving the last good policy bundle this Verdict's processes served (its copy), until the bundle's path loads again");
    else log.info(fields, "serving the policy bundle this Verdict's processes serve (its copy): bundle_watch is off");
    return true;
  }

  private engineFor(bundle: Bundle): Promise<PolicyEngine> {
    return PolicyEngine.load(bundle, {
      bounds: this.options.bounds,
      ...(this.options.obligations ? { obligations: this.options.obligations } : {}),
      onWorkerLost: (why) => this.options.log.warn({ bundle: this.role, revision: bundle.revision, why }, "policy worker replaced"),
    });
  }

  /** Decisions from now on use `engine`; the old one finishes the evaluations it already has, then stops. The old one. */
  private swap(engine: PolicyEngine): PolicyEngine | undefined {
    const { metrics } = this.options;
    const previous = this.current;
    this.current = engine;
    if (previous) {
      metrics.policyRevision.remove({ bundle: this.role, revision: previous.revision });
      void previous.close();
    }
    metrics.policyRevision.set({ bundle: this.role, revision: engine.revision }, 1);
    return previous;
  }

  /** The bundle just loaded from its path, copied for a process that starts while the path does not load (off the start's path). */
  private keep(bundle: Bundle): void {
    const { copies, log } = this.options;
    if (!copies) return;
    keepCopy(bundle, copies.dir).then(
      (path) => copies.kept(path, this.role),
      (error: unknown) =>
        log.warn({ bundle: this.role, revision: bundle.revision, err: (error as Error).message }, "could not keep a copy of the policy bundle"),
    );
  }

  private failed(reason: ReloadFailure, error: string, fingerprint: string | undefined): ReloadOutcome {
    const { log, metrics } = this.options;
    this.failedFingerprint = fingerprint;
    metrics.policyReloads.inc({ bundle: this.role, result: "failed" });
    metrics.policyReloadFailures.inc({ bundle: this.role, reason });
    log.error(
      { bundle: this.role, source: this.path, reason, err: error, servingRevision: this.current?.revision ?? null },
      this.current ? "policy bundle did not load; the last good revision keeps serving" : "policy bundle did not load",
    );
    return { result: "failed", reason, error };
  }
}

export class PolicyRuntime {
  private readonly watchers: BundleWatcher[] = [];

  private constructor(
    private readonly active: ServedBundle,
    private readonly shadowBundle: ServedBundle | undefined,
  ) {}

  /**
   * Loads the active bundle (it must load: Verdict does not start without a policy)
   * and the shadow bundle if one is configured (when it does not load, Verdict serves
   * without it and keeps trying as the file changes). A process of several starts on
   * a bundle's copy instead when its path does not load, or when the path is not
   * watched (serveCopy).
   */
  static async start(options: PolicyRuntimeOptions): Promise<PolicyRuntime> {
    const active = new ServedBundle("active", options.bundlePath, options);
    const outcome = await active.start(options.copies, options.watch);
    if (outcome.result === "failed") throw new BundleError(`the policy bundle ${options.bundlePath} does not load: ${outcome.error}`);
    const shadow = options.shadowBundlePath ? new ServedBundle("shadow", options.shadowBundlePath, options) : undefined;
    await shadow?.start(options.copies, options.watch);
    const runtime = new PolicyRuntime(active, shadow);
    if (options.watch) {
      const watchOptions = { ...DEFAULT_WATCH, ...options.watchOptions };
      for (const served of [active, shadow]) {
        if (served) runtime.watchers.push(watchBundle(served.path, () => void served.reload(), watchOptions));
      }
    }
    return runtime;
  }

  /**
   * The engine that makes decisions now. Call decide() on it in the same tick:
   * a swapped-out engine finishes the evaluations it was given, then stops.
   */
  current(): PolicyEngine {
    const engine = this.active.engine;
    if (!engine) throw new VerdictError("internal", "the policy runtime is closed");
    return engine;
  }

  /** The candidate engine evaluated beside the active one, when one is loaded. */
  shadow(): PolicyEngine | undefined {
    return this.shadowBundle?.engine;
  }

  /** Checks both bundles for changes now (the watcher does this by itself). */
  async reload(): Promise<{ active: ReloadOutcome; shadow?: ReloadOutcome }> {
    const active = await this.active.reload();
    const shadow = await this.shadowBundle?.reload();
    return shadow ? { active, shadow } : { active };
  }

  async close(): Promise<void> {
    for (const watcher of this.watchers.splice(0)) watcher.close();
    await Promise.all([this.active.close(), this.shadowBundle?.close()]);
  }
}
