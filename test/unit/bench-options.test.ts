// npm run bench's options (bench/options.ts): the open-loop rate is a fraction of each
// server's own maximum unless --rps names one rate for every server.
import { describe, expect, it } from "vitest";
import { parseOptions } from "../../bench/options.js";

describe("npm run bench options", () => {
  it("runs the open loop at a fraction of each maximum by default", () => {
    const options = parseOptions([]);
    expect(options.rps).toBeUndefined();
    expect(options.rateFraction).toBe(0.5);
    expect(options.concurrency).toEqual([16, 64]);
  });

  it("takes --rps as one rate in calls/s for every server", () => {
    expect(parseOptions(["--rps", "900", "--scenarios", "c,d"]).rps).toBe(900);
  });

  it("refuses an --rps that is no positive whole number", () => {
    for (const bad of ["0", "-5", "12.5", "many"]) expect(() => parseOptions([`--rps=${bad}`]), bad).toThrow(/--rps must be a positive integer/);
  });
});
