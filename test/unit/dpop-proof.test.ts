// DPoP proofs (RFC 9449) checked by verifyDpopProof with real keys and real
// signatures; the signature checks are counted where jose makes them (WebCrypto's
// verify), so a test can tell a proof refused before any verification.
import { createHash, randomUUID } from "node:crypto";
import { calculateJwkThumbprint, exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWK } from "jose";
import { afterEach, beforeAll, beforeEach, describe, expect, it, vi, type MockInstance } from "vitest";
import { TokenError, verifyDpopProof, type DpopOptions } from "../../src/token/index.js";

/** The defaults of `verdict serve` (dpop_max_age_seconds, clock_skew_seconds, max_token_bytes). */
const OPTIONS: DpopOptions = { maxAgeSeconds: 120, skewSeconds: 60, maxBytes: 8192 };
const URL_ = "https://invoices.example/invoices/inv-1/dispute";
const ACCESS_TOKEN = "the-access-token";
const now = () => Math.floor(Date.now() / 1000);

let bound: { privateKey: CryptoKey; jwk: JWK; jkt: string };
let verifications: MockInstance;

beforeAll(async () => {
  const { privateKey, publicKey } = await generateKeyPair("ES256", { extractable: true });
  const jwk = await exportJWK(publicKey);
  bound = { privateKey, jwk, jkt: await calculateJwkThumbprint(jwk) };
});
beforeEach(() => {
  verifications = vi.spyOn(crypto.subtle, "verify");
});
afterEach(() => {
  verifications.mockRestore();
});

function proof(key: CryptoKey, jwk: JWK, alg = "ES256"): Promise<string> {
  return new SignJWT({ htm: "POST", htu: URL_, iat: now(), jti: randomUUID(), ath: createHash("sha256").update(ACCESS_TOKEN).digest("base64url") })
    .setProtectedHeader({ alg, typ: "dpop+jwt", jwk })
    .sign(key);
}

async function reasonFor(proofText: string, expectedJkt = bound.jkt): Promise<string> {
  try {
    await verifyDpopProof({ proof: proofText, method: "POST", url: URL_ }, ACCESS_TOKEN, expectedJkt, now(), OPTIONS);
  } catch (error) {
    if (error instanceof TokenError) return error.reason;
    throw error;
  }
  return "ok";
}

describe("DPoP proofs", () => {
  it("accept a proof by the key the token is bound to, verifying its signature once", async () => {
    expect(await reasonFor(await proof(bound.privateKey, bound.jwk))).toBe("ok");
    expect(verifications).toHaveBeenCalledTimes(1);
  });

  it("refuse a proof signed by a key the token is not bound to with dpop_invalid, before verifying its signature", async () => {
    const other = await generateKeyPair("RS256", { extractable: true, modulusLength: 3072 });
    const signed = await proof(other.privateKey, await exportJWK(other.publicKey), "RS256");
    verifications.mockClear();
    expect(await reasonFor(signed)).toBe("dpop_invalid");
    expect(verifications).not.toHaveBeenCalled();
  });

  it("refuse an RSA jwk whose public exponent is longer than 4 bytes with dpop_invalid, even when the token is bound to it, before verifying", async () => {
    const rsa = await generateKeyPair("RS256", { extractable: true, modulusLength: 3072 });
    const standard = await exportJWK(rsa.publicKey);
    expect(standard.e).toBe("AQAB");
    // A huge odd exponent: every verification with it costs many times a standard one's.
    const huge = { ...standard, e: Buffer.concat([Buffer.from([0x01]), Buffer.alloc(382, 0xff)]).toString("base64url") };
    const signed = await proof(rsa.privateKey, huge, "RS256");
    verifications.mockClear();
    expect(await reasonFor(signed, await calculateJwkThumbprint(huge))).toBe("dpop_invalid");
    expect(verifications).not.toHaveBeenCalled();
    // the same key with its standard exponent, bound and proven, is accepted
    expect(await reasonFor(await proof(rsa.privateKey, standard, "RS256"), await calculateJwkThumbprint(standard))).toBe("ok");
  });

  it("refuse an RSA jwk whose modulus is under 2,048 or over 4,096 bits with dpop_invalid, even when the token is bound to it, before verifying", async () => {
    const rsa = await generateKeyPair("RS256", { extractable: true, modulusLength: 2048 });
    const standard = await exportJWK(rsa.publicKey);
    /** The standard key's jwk with a modulus of `bits` bits (its top bit set): the token is bound to it, the proof claims it. */
    const withModulus = (bits: number) => {
      const bytes = Buffer.alloc(Math.ceil(bits / 8), 0xa5);
      bytes[0] = 1 << ((bits - 1) % 8);
      return { ...standard, n: bytes.toString("base64url") };
    };
    for (const bits of [1024, 2047, 4097, 16_384]) {
      const jwk = withModulus(bits);
      const signed = await proof(rsa.privateKey, jwk, "RS256");
      verifications.mockClear();
      expect(await reasonFor(signed, await calculateJwkThumbprint(jwk))).toBe("dpop_invalid");
      expect(verifications).not.toHaveBeenCalled();
    }
    // at the bounds the check lets the proof through to its signature (here a key of another modulus: it does not verify)
    for (const bits of [2048, 4096]) {
      const jwk = withModulus(bits);
      verifications.mockClear();
      expect(await reasonFor(await proof(rsa.privateKey, jwk, "RS256"), await calculateJwkThumbprint(jwk))).toBe("dpop_invalid");
      expect(verifications).toHaveBeenCalledTimes(1);
    }
    expect(await reasonFor(await proof(rsa.privateKey, standard, "RS256"), await calculateJwkThumbprint(standard))).toBe("ok");
  });
});
