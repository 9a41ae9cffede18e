// A decision's state that does not answer is a denial (state_unavailable), whichever
// store it lives in; anything else is no denial and ends the call.
import { describe, expect, it } from "vitest";
import { stateDenial, type Base } from "../../src/decide/denials.js";
import { silentLogger } from "../../src/observability/index.js";
import { StateUnavailableError } from "../../src/state/index.js";
import { SuspensionStoreError } from "../../src/suspensions/index.js";
import type { Principal } from "../../src/token/index.js";

const base: Base = { decisionId: "d-1", policyRevision: "r-1", obligations: [], explain: [] };
const principal = { issuer: "https://issuer.example", subject: "alice" } as Principal;

describe("stateDenial", () => {
  it("denies state_unavailable for the counters' failure and for the suspensions store's (a brake's write on an allow)", () => {
    for (const error of [new StateUnavailableError("reserve: no answer"), new SuspensionStoreError("suspend: no answer within 5000 ms")]) {
      expect(stateDenial(error, base, principal, silentLogger())).toMatchObject({ decision: "DENY", reasons: [{ code: "state_unavailable" }] });
    }
  });

  it("rethrows anything else", () => {
    expect(() => stateDenial(new Error("a bug"), base, principal, silentLogger())).toThrow("a bug");
  });
});
