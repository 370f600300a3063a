/**
 * A registry-token verifier that follows distribution 3.x's rules, for checking minted tokens
 * against a registry version that is not packaged here (`registry/auth/token` in 3.x):
 * - trusted keys: each bundle certificate's key under its RFC 7638 thumbprint, plus each
 *   `jwks` entry under its `kid`;
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
    trusted.set(await calculateJwkThumbprint(jwk), jwk);
  }
  for (const jwk of jwks?.keys ?? []) {
    if (jwk.kid) trusted.set(jwk.kid, jwk);
  }
  return trusted;
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
