// The obligation types Verdict enforces. Adding one is a module beside these and
// one line in OBLIGATION_TYPES; everything else (policy output, explain, the wire,
// the audit record) works from this registry, and Release from what the stores hold.
import type { JsonObject } from "@verdict/sdk/wire";
import type { ObligationBase } from "../contract/index.js";
import { VerdictError } from "../errors/index.js";
import { once } from "./once.js";
import { rate } from "./rate.js";
import { reserve } from "./reserve.js";
import type { ObligationType } from "./type.js";

export const OBLIGATION_TYPES: readonly ObligationType[] = [
  reserve, // add an amount to a windowed counter, within a limit
  rate, // count the request in a window, within a limit
  once, // use a key once until it expires
];

export class ObligationRegistry {
  private readonly byType = new Map<string, ObligationType>();

  constructor(types: readonly ObligationType[] = OBLIGATION_TYPES) {
    for (const type of types) {
      if (this.byType.has(type.type)) throw new VerdictError("internal", `obligation type ${type.type} is registered twice`);
      this.byType.set(type.type, type);
    }
  }

  find(type: string): ObligationType | undefined {
    return this.byType.get(type);
  }

  /** A registered type; requests parsed with this registry only name those. */
  get(name: string): ObligationType {
    const type = this.byType.get(name);
    if (!type) throw new VerdictError("internal", `obligation type ${name} is not registered`);
    return type;
  }

  /** "reserve, rate or once": for messages about what a policy may ask for. */
  names(): string {
    const names = [...this.byType.keys()];
    return names.length > 1 ? `${names.slice(0, -1).join(", ")} or ${names.at(-1)}` : (names[0] ?? "none");
  }

  /** A request in the policy's own terms, as plain JSON. */
  summary(request: ObligationBase): JsonObject {
    return { type: request.type, key: request.key, ...this.get(request.type).summary(request) };
  }
}

export const defaultObligations = new ObligationRegistry();
