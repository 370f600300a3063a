/**
 * A registry-token verifier that follows distribution **v3.0.0**'s rules, for checking minted
 * tokens against a registry version that is not packaged here (`registry/auth/token` in v3.0.0,
 * as measured on a real v3.0.0 built from its source; docs/registry.md):
 * - trusted keys: each bundle certificate's key under a thumbprint, plus each `jwks` entry under
 *   its `kid`. The thumbprint is RFC 7638's for an RSA key; for an EC key v3.0.0 hashes the
 *   curve's generator point (`params.Gx/Gy`) instead of the key's, so no real `kid` matches it;
 *   for an Ed25519 key it computes none at all (later releases fix both);
 * - the signing key comes from `x5c` (chain verified to a bundle certificate, validity dates
 *   apply), else from a `jwk` header (trusted only when its thumbprint is a trusted key), else
 *   from `kid` looked up in the trusted keys (libtrust IDs are no longer derived);
 * - `iss` must match, `aud` may be a string or an array containing the service, `exp`/`nbf`
 *   get 60 s leeway and `exp` is required.
 *
 * @module
 */

import { X509Certificate } from "node:crypto";
import {
  calculateJwkThumbprint,
  compactVerify,
  decodeJwt,
  decodeProtectedHeader,
  importJWK,
  type JWK,
} from "jose";

const LEEWAY_SECONDS = 60;
const ALGORITHMS = ["RS256", "RS384", "RS512", "ES256", "ES384", "ES512", "EdDSA"];

/** What a distribution 3.x registry is configured with. */
export interface Distribution3Config {
  readonly issuer: string;
  readonly service: string;
  /** PEM bundle (`auth.token.rootcertbundle`). */
  readonly rootCertBundle: string;
  /** Parsed `auth.token.jwks` file, if configured. */
  readonly jwks?: { readonly keys: readonly JWK[] };
}

/** Verifies `token` as distribution 3.x would; throws an `Error` saying why it is refused. */
export async function verifyLikeDistribution3(
  token: string,
  config: Distribution3Config,
  now = new Date(),
): Promise<Record<string, unknown>> {
  const claims = decodeJwt(token);
  if (claims.iss !== config.issuer) throw new Error(`untrusted issuer ${claims.iss}`);
  const audiences = [claims.aud].flat();
  if (!audiences.includes(config.service)) throw new Error(`wrong audience ${claims.aud}`);
  const seconds = now.getTime() / 1000;
  if (typeof claims.exp !== "number" || seconds > claims.exp + LEEWAY_SECONDS) {
    throw new Error("expired");
  }
  if (typeof claims.nbf === "number" && seconds < claims.nbf - LEEWAY_SECONDS) {
    throw new Error("not yet valid");
  }

  const header = decodeProtectedHeader(token);
  if (!ALGORITHMS.includes(header.alg ?? "")) {
    throw new Error(`algorithm ${header.alg} not accepted`);
  }
  const roots = bundleCertificates(config.rootCertBundle);
  const trusted = await trustedKeys(roots, config.jwks);
  let key: CryptoKey | Uint8Array;
  if (header.x5c?.length) {
    key = await importJWK(chainedLeafKey(header.x5c, roots, now), header.alg);
  } else if (header.jwk) {
    const thumbprint = await calculateJwkThumbprint(header.jwk);
    if (!trusted.has(thumbprint)) throw new Error("untrusted jwk header");
    key = await importJWK(header.jwk, header.alg);
  } else if (header.kid) {
    const jwk = trusted.get(header.kid);
    if (!jwk) throw new Error(`token signed by untrusted key with ID: "${header.kid}"`);
    key = await importJWK(jwk, header.alg);
  } else {
    throw new Error("unable to get token signing key");
  }
  await compactVerify(token, key as CryptoKey, { algorithms: [header.alg!] });
  return claims;
}

function bundleCertificates(pem: string): X509Certificate[] {
  const blocks = pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
  return blocks.map((block) => new X509Certificate(block));
}

async function trustedKeys(roots: X509Certificate[], jwks?: Distribution3Config["jwks"]) {
  const trusted = new Map<string, JWK>();
  for (const root of roots) {
    const jwk = root.publicKey.export({ format: "jwk" }) as JWK;
    const thumbprinted = v300ThumbprintedKey(jwk);
    if (thumbprinted) trusted.set(await calculateJwkThumbprint(thumbprinted), jwk);
  }
  for (const jwk of jwks?.keys ?? []) {
    if (jwk.kid) trusted.set(jwk.kid, jwk);
  }
  return trusted;
}

/** Generator points of the curves v3.0.0 thumbprints in their place (SEC 2 §2.4.2, §2.5.1). */
const GENERATORS: Record<string, { x: string; y: string }> = {
  "P-256": {
    x: "6b17d1f2e12c4247f8bce6e563a440f277037d812deb33a0f4a13945d898c296",
    y: "4fe342e2fe1a7f9b8ee7eb4a7c0f9e162bce33576b315ececbb6406837bf51f5",
  },
  "P-384": {
    x: "aa87ca22be8b05378eb1c71ef320ad746e1d3b628ba79b9859f741e082542a385502f25dbf55296c3a545e3872760ab7",
    y: "3617de4a96262c6f5d9e98bf9292dc29f8f41dbd289a147ce9da3113b5f0b8c00a60b1ce1d7e819d7a431d7c90ea0e5f",
  },
};

/** The JWK v3.0.0 thumbprints for a bundle key, or undefined when it computes none (Ed25519). */
function v300ThumbprintedKey(jwk: JWK): JWK | undefined {
  if (jwk.kty === "RSA") return { kty: "RSA", n: jwk.n, e: jwk.e };
  if (jwk.kty !== "EC") return undefined;
  const generator = GENERATORS[jwk.crv!];
  const base64url = (hex: string) =>
    btoa(String.fromCharCode(...hex.match(/../g)!.map((byte) => parseInt(byte, 16))))
      .replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  return { kty: "EC", crv: jwk.crv, x: base64url(generator.x), y: base64url(generator.y) };
}

/** Verifies the `x5c` chain up to a bundle certificate and returns the leaf's key. */
function chainedLeafKey(x5c: string[], roots: X509Certificate[], now: Date): JWK {
  const chain = x5c.map((der) =>
    new X509Certificate(Uint8Array.from(atob(der), (c) => c.charCodeAt(0)))
  );
  const candidates = [...chain.slice(1), ...roots];
  let current = chain[0];
  for (let depth = 0; depth < 10; depth++) {
    if (now < new Date(current.validFrom) || now > new Date(current.validTo)) {
      throw new Error(`certificate ${current.subject} is outside its validity period`);
    }
    if (roots.some((root) => root.fingerprint256 === current.fingerprint256)) {
      return chain[0].publicKey.export({ format: "jwk" }) as JWK;
    }
    const issuer = candidates.find((candidate) =>
      current.checkIssued(candidate) && current.verify(candidate.publicKey)
    );
    if (!issuer) throw new Error("unable to verify certificate chain");
    current = issuer;
  }
  throw new Error("certificate chain too long");
}
