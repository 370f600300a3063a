/**
 * A test Authority: an ES256 key pair, its JWKS, and a caller-token factory whose claims and
 * header tests can override one by one.
 *
 * @module
 */

import { exportJWK, generateKeyPair, type JSONWebKeySet, type JWTPayload, SignJWT } from "jose";

/** The fixed "now" of tests that inject a clock. */
export const NOW = new Date("2026-11-30T12:00:00Z");
/** `NOW` in seconds since the epoch. */
export const NOW_SECONDS = NOW.getTime() / 1000;

/** Overrides for one caller token; a claim set to `undefined` is left out. */
export interface CallerTokenOverrides {
  readonly claims?: Record<string, unknown>;
  readonly header?: Record<string, unknown>;
  /** Sign with this key instead of the Authority's (e.g. an impostor's). */
  readonly signingKey?: CryptoKey;
}

/** An Authority that issues caller tokens for tests. */
export interface TestAuthority {
  readonly issuer: string;
  readonly kid: string;
  readonly jwks: JSONWebKeySet;
  /** Signs a caller token: defaults are a valid token for subject `ci-bot`. */
  token(overrides?: CallerTokenOverrides): Promise<string>;
}

/** Creates a test Authority with a fresh ES256 key. */
export async function createTestAuthority(
  issuer = "https://authority.test",
  kid = "authority-key-1",
): Promise<TestAuthority> {
  const { privateKey, publicKey } = await generateKeyPair("ES256");
  const jwks = { keys: [{ ...await exportJWK(publicKey), kid, alg: "ES256", use: "sig" }] };
  return {
    issuer,
    kid,
    jwks,
    async token(overrides = {}) {
      const claims: JWTPayload = {
        iss: issuer,
        sub: "ci-bot",
        scope: "registry.token.issue",
        iat: NOW_SECONDS,
        exp: NOW_SECONDS + 600,
        ...overrides.claims,
      };
      for (const [name, value] of Object.entries(claims)) {
        if (value === undefined) delete claims[name];
      }
      return await new SignJWT(claims)
        .setProtectedHeader({ alg: "ES256", kid, ...overrides.header })
        .sign(overrides.signingKey ?? privateKey);
    },
  };
}

/** Basic credentials as docker/skopeo send them, with the token as password. */
export function basic(token: string, user = "oauth2accesstoken"): string {
  return `Basic ${btoa(`${user}:${token}`)}`;
}
