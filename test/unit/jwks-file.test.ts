// A JWKS file is read once at start: JSON with a "keys" array of usable public keys.
// What would fail every token later is refused now, by its place and kid.
import { generateKeyPairSync } from "node:crypto";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { fileKeySource } from "../../src/token/index.js";

const dir = mkdtempSync(join(tmpdir(), "verdict-jwks-"));
let n = 0;
function file(content: unknown): string {
  const path = join(dir, `jwks-${++n}.json`);
  writeFileSync(path, typeof content === "string" ? content : JSON.stringify(content));
  return path;
}
const ecKey = () => ({ ...generateKeyPairSync("ec", { namedCurve: "P-256" }).publicKey.export({ format: "jwk" }), kid: "k1", alg: "ES256" });

describe("a JWKS file", () => {
  it("loads usable public keys, and finds one by its kid", async () => {
    const source = fileKeySource(file({ keys: [ecKey()] }));
    expect(await source.getKey({ alg: "ES256", kid: "k1" })).toBeDefined();
    await expect(source.getKey({ alg: "ES256", kid: "other" })).rejects.toThrow();
  });

  it("is refused, as config_invalid, when it is not JSON, has no keys, or holds a key that is no usable public key", () => {
    const refused = (content: unknown) => {
      const path = file(content);
      try {
        fileKeySource(path);
      } catch (error) {
        expect(error).toMatchObject({ code: "config_invalid" });
        return (error as Error).message.replace(path, "FILE");
      }
      throw new Error("not refused");
    };
    expect(refused("not json")).toMatch(/^cannot read JWKS file FILE: /);
    expect(refused({ keys: "none" })).toBe('JWKS file FILE has no "keys" array');
    expect(refused({ keys: [] })).toBe("JWKS file FILE has no keys");
    expect(refused({ keys: [ecKey(), { kty: "EC", kid: "half" }] })).toMatch(/^JWKS file FILE: keys\[1\] \(kid half\) is not a usable public key: /);
    // A shared secret: Verdict verifies asymmetric signatures only.
    expect(refused({ keys: [{ kty: "oct", k: "c2VjcmV0" }] })).toMatch(/^JWKS file FILE: keys\[0\] is not a usable public key: /);
  });
});
