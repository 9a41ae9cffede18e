// The signature check on the calling thread holds a key to what jose would: imported
// for the token's algorithm, and an RSA modulus of at least 2,048 bits. Real keys.
import { generateKeyPairSync, KeyObject, sign, verify, webcrypto } from "node:crypto";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { JOSE_INTEGER_BYTES, joseSignatureToDer } from "../../src/token/ecdsa.js";
import { signatureVerifies } from "../../src/token/signature.js";

const signingInput = `${Buffer.from('{"alg":"RS256"}').toString("base64url")}.${Buffer.from('{"sub":"u"}').toString("base64url")}`;

function rsaToken(modulusLength: number) {
  const { publicKey, privateKey } = generateKeyPairSync("rsa", { modulusLength });
  return { publicKey, token: `${signingInput}.${sign("sha256", Buffer.from(signingInput), privateKey).toString("base64url")}` };
}

/** The key as WebCrypto (and jose's JWKS) would hold it, imported for one algorithm (KeyObject.toCryptoKey is Node 22.10+). */
function imported(key: KeyObject, algorithm: { name: string; hash: string }) {
  return webcrypto.subtle.importKey("spki", key.export({ type: "spki", format: "der" }), algorithm, false, ["verify"]);
}

describe("signatureVerifies", () => {
  it("verifies an RS256 signature under its key, as a KeyObject and as a CryptoKey", async () => {
    const { publicKey, token } = rsaToken(2048);
    expect(signatureVerifies(token, "RS256", publicKey)).toBe(true);
    expect(signatureVerifies(token, "RS256", await imported(publicKey, { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" }))).toBe(true);
    expect(signatureVerifies(`${token.slice(0, -4)}AAAA`, "RS256", publicKey)).toBe(false);
  });

  it("refuses a key imported for another algorithm, hash or curve", async () => {
    const { publicKey, token } = rsaToken(2048);
    const pss = await imported(publicKey, { name: "RSA-PSS", hash: "SHA-256" });
    expect(() => signatureVerifies(token, "RS256", pss)).toThrow(expect.objectContaining({ reason: "signature_invalid" }));
    const sha512 = await imported(publicKey, { name: "RSASSA-PKCS1-v1_5", hash: "SHA-512" });
    expect(() => signatureVerifies(token, "RS256", sha512)).toThrow(expect.objectContaining({ reason: "signature_invalid" }));
    const p384 = generateKeyPairSync("ec", { namedCurve: "secp384r1" }).publicKey;
    expect(() => signatureVerifies(token, "ES256", p384)).toThrow(expect.objectContaining({ reason: "signature_invalid" }));
    expect(() => signatureVerifies(token, "EdDSA", publicKey)).toThrow(expect.objectContaining({ reason: "signature_invalid" }));
  });

  it("refuses an RSA key under 2,048 bits and a private key", () => {
    const { publicKey, token } = rsaToken(1024);
    expect(() => signatureVerifies(token, "RS256", publicKey)).toThrow(/RSA under 2048 bits/);
    const { privateKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
    expect(privateKey).toBeInstanceOf(KeyObject);
    expect(() => signatureVerifies(token, "RS256", privateKey)).toThrow(expect.objectContaining({ reason: "signature_invalid" }));
  });
});

// ES256, ES384 and ES512 tokens are verified as DER, converted from the JWS form (r || s):
// node:crypto's own verification of the JWS form (dsaEncoding "ieee-p1363") is the oracle.
describe("ECDSA signatures, JWS form to DER", () => {
  const CURVES = [
    { alg: "ES256", curve: "P-256", node: "prime256v1", hash: "sha256" },
    { alg: "ES384", curve: "P-384", node: "secp384r1", hash: "sha384" },
    { alg: "ES512", curve: "P-521", node: "secp521r1", hash: "sha512" },
  ] as const;
  const input = Buffer.from(signingInput);

  for (const { alg, curve, node, hash } of CURVES) {
    const { publicKey, privateKey } = generateKeyPairSync("ec", { namedCurve: node });
    const jose = () => sign(hash, input, { key: privateKey, dsaEncoding: "ieee-p1363" });
    const nodeSays = (signature: Buffer) => {
      try {
        return verify(hash, input, { key: publicKey, dsaEncoding: "ieee-p1363" }, signature);
      } catch {
        return false;
      }
    };
    const token = (signature: Buffer) => `${signingInput}.${signature.toString("base64url")}`;

    it(`${alg}: verifies what node:crypto verifies, refuses what it refuses, whatever the bytes`, () => {
      const genuine = jose();
      expect(signatureVerifies(token(genuine), alg, publicKey)).toBe(true);
      fc.assert(
        fc.property(fc.array(fc.tuple(fc.nat(2 * JOSE_INTEGER_BYTES[curve] - 1), fc.integer({ min: 0, max: 255 })), { maxLength: 3 }), (edits) => {
          const signature = Buffer.from(genuine);
          for (const [at, byte] of edits) signature[at] = byte;
          expect(signatureVerifies(token(signature), alg, publicKey)).toBe(nodeSays(signature));
        }),
        { numRuns: 60 },
      );
      // r or s zero, and signatures of the wrong length (one short, one long, empty)
      const size = JOSE_INTEGER_BYTES[curve];
      for (const odd of [
        Buffer.concat([Buffer.alloc(size), genuine.subarray(size)]),
        genuine.subarray(1),
        Buffer.concat([genuine, Buffer.of(0)]),
        Buffer.alloc(0),
      ]) {
        expect(nodeSays(odd)).toBe(false);
        expect(signatureVerifies(token(odd), alg, publicKey)).toBe(false);
      }
    });

    it(`${alg}: writes canonical DER for integers with leading zero bytes and with the first bit set`, () => {
      // OpenSSL refuses an ECDSA signature whose DER is not canonical, so each verifying proves its encoding.
      // P-521's order is under 2^521: r's first of 66 bytes is 0 or 1, never with its first bit set.
      const firstBitPossible = curve !== "P-521";
      const want = { leadingZero: false, firstBitSet: false };
      // A leading zero that DER leaves out comes in about one integer of 512 on P-256 and P-384, so one signature
      // (r and s) in 256: the loop ends when both were seen, and its bound only keeps a broken encoder from running
      // for ever (20,000 signatures without one: a chance of about e^-78).
      for (let i = 0; i < 20_000 && !(want.leadingZero && (want.firstBitSet || !firstBitPossible)); i += 1) {
        const signature = jose();
        const size = JOSE_INTEGER_BYTES[curve];
        const der = joseSignatureToDer(signature, size);
        expect(der).toBeDefined();
        expect(verify(hash, input, publicKey, der!)).toBe(true);
        for (const integer of [signature.subarray(0, size), signature.subarray(size)]) {
          if (integer[0] === 0 && (integer[1] ?? 0) < 0x80) want.leadingZero = true; // a zero DER leaves out (before 0x80 and up, it keeps one)
          if ((integer[0] ?? 0) & 0x80) want.firstBitSet = true;
        }
      }
      expect(want.leadingZero).toBe(true);
      expect(want.firstBitSet).toBe(firstBitPossible);
    });
  }
});
