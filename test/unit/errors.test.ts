// The one error model: every error class is a VerdictError whose code is in the
// table, and the table gives each edge its answer.
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { AuditQueryError, AuditStoreUnavailableError, MaskRuleError } from "../../src/audit/index.js";
import { UsageError } from "../../src/cli/args.js";
import { CheckCallError } from "../../src/cli/check.js";
import { PolicyCommandError } from "../../src/cli/policy-command.js";
import { ConfigError } from "../../src/config/index.js";
import { ERRORS, listenFailed, mappingOf, overloadPushbackMs, VerdictError } from "../../src/errors/index.js";
import { packageRoot } from "../../src/paths.js";
import { BundleError, EvaluationError, PolicyError } from "../../src/policy/index.js";
import { InvalidArgumentError } from "../../src/server/index.js";
import { StateUnavailableError } from "../../src/state/index.js";
import { DuplicateMemberError, TokenError } from "../../src/token/index.js";

const GRPC = { INVALID_ARGUMENT: 3, PERMISSION_DENIED: 7, INTERNAL: 13, UNAVAILABLE: 14, UNAUTHENTICATED: 16 };

describe("the error model", () => {
  it.each([
    [new ConfigError("x"), "config_invalid"],
    [new UsageError("x"), "usage_invalid"],
    [new InvalidArgumentError("x"), "invalid_argument"],
    [new StateUnavailableError("x"), "state_unavailable"],
    [new PolicyError("x"), "policy_error"],
    [new EvaluationError("x", "timeout"), "policy_error"],
    [new BundleError("x"), "bundle_invalid"],
    [new TokenError("token_expired"), "invalid_token"],
    [new DuplicateMemberError("a"), "json_duplicate_member"],
    [new AuditQueryError("x"), "audit_query_invalid"],
    [new AuditStoreUnavailableError("x"), "audit_store_unavailable"],
    [new MaskRuleError("x"), "mask_rule_invalid"],
    [new CheckCallError("UNAVAILABLE", "x", "cannot reach Verdict"), "check_call_failed"],
    [new PolicyCommandError("x"), "policy_command_failed"],
  ])("gives %o the code %s, named by its class", (error, code) => {
    expect(error).toBeInstanceOf(VerdictError);
    expect(error.code).toBe(code);
    expect(error.name).toBe(error.constructor.name);
    expect(ERRORS[error.code]).toBeDefined();
  });

  it("keeps a refused token's specific reason beside its code", () => {
    const error = new TokenError("dpop_replayed");
    expect(error).toMatchObject({ code: "invalid_token", reason: "dpop_replayed", message: "This DPoP proof was already used." });
  });

  it("maps codes to gRPC statuses, HTTP statuses and exit codes, and anything else to internal", () => {
    expect(mappingOf(new InvalidArgumentError("x"))).toEqual({ grpc: GRPC.INVALID_ARGUMENT, http: 400, exit: 2 });
    expect(mappingOf(new UsageError("x")).exit).toBe(2);
    expect(mappingOf(new StateUnavailableError("x"))).toEqual({ grpc: GRPC.UNAVAILABLE, http: 503, exit: 1 });
    expect(mappingOf(new VerdictError("unauthenticated", "x"))).toMatchObject({ grpc: GRPC.UNAUTHENTICATED, http: 401 });
    expect(mappingOf(new VerdictError("permission_denied", "x"))).toMatchObject({ grpc: GRPC.PERMISSION_DENIED, http: 403 });
    expect(mappingOf(new TypeError("bug"))).toEqual({ grpc: GRPC.INTERNAL, http: 500, exit: 1 });
    expect(mappingOf("not even an error")).toEqual(ERRORS.internal);
  });

  it("says a listener's refused bind in the same words whichever listener it was", () => {
    const inUse = Object.assign(new Error("listen EADDRINUSE: address already in use 127.0.0.1:9464"), { code: "EADDRINUSE" });
    expect(listenFailed("127.0.0.1", 9464, inUse, "the admin listener")).toMatchObject({
      code: "listen_failed",
      message: "cannot listen on 127.0.0.1:9464 (the admin listener): the address is already in use (is another Verdict running?)",
      cause: inUse,
    });
    // grpc-js gives only a message; IPv6 hosts are bracketed.
    expect(listenFailed("::1", 443, new Error("No address added out of total 1 resolved: bind EACCES")).message).toBe(
      "cannot listen on [::1]:443: permission denied",
    );
    expect(listenFailed("0.0.0.0", 1, new Error("something else")).message).toBe("cannot listen on 0.0.0.0:1: something else");
  });

  it("has snake_case codes only, and no other code style left in the sources", () => {
    for (const code of Object.keys(ERRORS)) expect(code).toMatch(/^[a-z][a-z0-9_]*$/);
    const files: string[] = [];
    const walk = (dir: string) => {
      for (const name of readdirSync(dir)) {
        const path = join(dir, name);
        if (statSync(path).isDirectory()) walk(path);
        else if (path.endsWith(".ts")) files.push(path);
      }
    };
    walk(join(packageRoot, "src"));
    // src/errors holds the base class itself
    files.splice(0, files.length, ...files.filter((file) => !file.includes(join("src", "errors"))));
    const offenders = files.filter((file) => /ERR_VERDICT_|extends Error\b/.test(readFileSync(file, "utf8")));
    expect(offenders).toEqual([]);
  });

  it("tells an overloaded caller to retry after the refusing queue's bound, and up to half as much again, at random", () => {
    expect(overloadPushbackMs(5_000, () => 0)).toBe(5_000);
    expect(overloadPushbackMs(5_000, () => 0.5)).toBe(6_250);
    expect(overloadPushbackMs(5_000, () => 1 - Number.EPSILON)).toBe(7_500);
    expect(overloadPushbackMs(333, () => 0.3)).toBe(383);
    const drawn = Array.from({ length: 1_000 }, () => overloadPushbackMs(5_000));
    expect(Math.min(...drawn)).toBeGreaterThanOrEqual(5_000);
    expect(Math.max(...drawn)).toBeLessThanOrEqual(7_500);
    // spread over the span, not bunched: both of its halves drawn
    expect(drawn.some((ms) => ms < 6_250) && drawn.some((ms) => ms > 6_250)).toBe(true);
  });
});
