/**
 * DPoP (RFC 9449) client side for tests: a proof key and proof JWTs, with overrides so tests can
 * build the broken proofs a verifier must reject.
 *
 * @module
 */

import { base64url, calculateJwkThumbprint, exportJWK, generateKeyPair, type JWK } from "jose";
import type { AcceptedProof } from "../../src/authn/dpop.ts";

/** A DPoP proof key: the private half signs proofs, the public JWK goes in their header. */
export interface DpopKey {
  readonly privateKey: CryptoKey;
  /** The public key as a bare JWK (no `alg`, `kid` or `use`), as clients put it in `jwk`. */
  readonly publicJwk: JWK;
  /** The JWS algorithm the private key signs with. */
  readonly alg: string;
}

/** What goes into one proof; everything past `htm`/`htu` is optional or an override. */
export interface DpopProofOptions {
  /** HTTP method of the request the proof is for. */
  readonly htm: string;
  /** HTTP URL of the request the proof is for (no query or fragment). */
  readonly htu: string;
  /** When given, the proof carries `ath` = base64url(SHA-256(accessToken)). */
  readonly accessToken?: string;
  /** A server-provided `DPoP-Nonce`. */
  readonly nonce?: string;
  /** Seconds since the epoch; defaults to now. */
  readonly iat?: number;
  /** Defaults to a random UUID. */
  readonly jti?: string;
  /** Header `typ`; defaults to `dpop+jwt`. */
  readonly typ?: string;
  /**
   * Header `alg`; defaults to the key's. The signature is always made with the key's own
   * algorithm, so a different value yields a proof whose header lies about its algorithm.
   */
  readonly alg?: string;
  /** Merged over the header last; a member set to `undefined` is left out (e.g. `jwk`). */
  readonly header?: Record<string, unknown>;
  /** Merged over the claims last; a claim set to `undefined` is left out (e.g. `jti`). */
  readonly claims?: Record<string, unknown>;
}

/** Creates an extractable proof key (extractable so tests can put the private JWK in a header). */
export async function createDpopKey(alg = "ES256"): Promise<DpopKey> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
  return { privateKey, publicJwk: await exportJWK(publicKey), alg };
}

/** Builds a compact-serialized DPoP proof JWT for one request. */
export async function dpopProof(key: DpopKey, options: DpopProofOptions): Promise<string> {
  const header = withoutUndefined({
    typ: options.typ ?? "dpop+jwt",
    alg: options.alg ?? key.alg,
    jwk: key.publicJwk,
    ...options.header,
  });
  const claims = withoutUndefined({
    jti: options.jti ?? crypto.randomUUID(),
    htm: options.htm,
    htu: options.htu,
    iat: options.iat ?? Math.floor(Date.now() / 1000),
    ath: options.accessToken === undefined ? undefined : await accessTokenHash(options.accessToken),
    nonce: options.nonce,
    ...options.claims,
  });
  // Signed by hand rather than with jose's SignJWT, which refuses a header `alg` that does not
  // match the key: tests need exactly such proofs.
  const encoder = new TextEncoder();
  const signingInput = `${base64url.encode(JSON.stringify(header))}.${
    base64url.encode(JSON.stringify(claims))
  }`;
  const signature = await crypto.subtle.sign(
    signParams(key.alg),
    key.privateKey,
    encoder.encode(signingInput),
  );
  return `${signingInput}.${base64url.encode(new Uint8Array(signature))}`;
}

/** The RFC 7638 SHA-256 thumbprint of a public JWK: the value of `cnf.jkt`. */
export async function jwkThumbprint(publicJwk: JWK): Promise<string> {
  return await calculateJwkThumbprint(publicJwk, "sha256");
}

/** base64url(SHA-256(accessToken)): a proof's `ath` claim. */
export async function accessTokenHash(accessToken: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(accessToken));
  return base64url.encode(new Uint8Array(digest));
}

/** WebCrypto parameters for signing with a JWS algorithm (JWS ECDSA signatures are r||s, as WebCrypto makes them). */
function signParams(alg: string): AlgorithmIdentifier | RsaPssParams | EcdsaParams {
  const bits = alg.slice(-3);
  switch (alg) {
    case "ES256":
    case "ES384":
    case "ES512":
      return { name: "ECDSA", hash: `SHA-${bits}` };
    case "RS256":
    case "RS384":
    case "RS512":
      return { name: "RSASSA-PKCS1-v1_5" };
    case "PS256":
    case "PS384":
    case "PS512":
      return { name: "RSA-PSS", saltLength: Number(bits) / 8 };
    case "EdDSA":
    case "Ed25519":
      return { name: "Ed25519" };
    default:
      throw new Error(`unsupported DPoP key algorithm ${alg}`);
  }
}

function withoutUndefined(record: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(record).filter(([, value]) => value !== undefined));
}

/** A proof as `verifyDpopProof` accepts it, made at `issuedAt`, acceptable until `expiresAt`. */
export function acceptedProof(id: string, issuedAt: number, expiresAt: number): AcceptedProof {
  return { id, issuedAt, expiresAt };
}
