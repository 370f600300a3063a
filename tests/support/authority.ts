/**
 * A test Authority: an ES256 key pair, its JWKS, and a caller-token factory whose claims and
 * header tests can override one by one, or whose key signs raw header and payload text.
 *
 * @module
 */

import {
  exportJWK,
  generateKeyPair,
  type JSONWebKeySet,
  type JWK,
  type JWTPayload,
  SignJWT,
} from "jose";
import { signEs256Raw } from "./raw_jws.ts";

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
  readonly privateKey: CryptoKey;
  readonly publicKey: CryptoKey;
  /** The public key as published in the JWKS (with `kid`, `alg`, `use`). */
  readonly publicJwk: JWK;
  /** Signs a caller token: defaults are a valid token for subject `ci-bot`. */
  token(overrides?: CallerTokenOverrides): Promise<string>;
  /** Signs `base64url(header).base64url(payload)` exactly as given, with the Authority's key. */
  signRaw(headerText: string, payloadText: string): Promise<string>;
}

/** A caller token of `authority` valid for five minutes from now, for a process on the real clock. */
export function liveToken(
  authority: Pick<TestAuthority, "token">,
  claims: Record<string, unknown> = {},
): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  return authority.token({ claims: { iat: now, exp: now + 300, ...claims } });
}

/** The claims of a valid caller token of `issuer`. */
export function defaultClaims(issuer: string): Record<string, unknown> {
  return {
    iss: issuer,
    sub: "ci-bot",
    scope: "registry.token.issue",
    iat: NOW_SECONDS,
    exp: NOW_SECONDS + 600,
  };
}

/** Creates a test Authority with a fresh ES256 key. */
export async function createTestAuthority(
  issuer = "https://authority.test",
  kid = "authority-key-1",
): Promise<TestAuthority> {
  const { privateKey, publicKey } = await generateKeyPair("ES256", { extractable: true });
  const publicJwk = { ...await exportJWK(publicKey), kid, alg: "ES256", use: "sig" };
  return {
    issuer,
    kid,
    jwks: { keys: [publicJwk] },
    privateKey,
    publicKey,
    publicJwk,
    async token(overrides = {}) {
      const claims: JWTPayload = { ...defaultClaims(issuer), ...overrides.claims };
      for (const [name, value] of Object.entries(claims)) {
        if (value === undefined) delete claims[name];
      }
      return await new SignJWT(claims)
        .setProtectedHeader({ alg: "ES256", kid, ...overrides.header })
        .sign(overrides.signingKey ?? privateKey);
    },
    signRaw: (headerText, payloadText) => signEs256Raw(privateKey, headerText, payloadText),
  };
}

/** Basic credentials as docker/skopeo send them, with the token as password. */
export function basic(token: string, user = "oauth2accesstoken"): string {
  return `Basic ${btoa(`${user}:${token}`)}`;
}

/**
 * `count` distinct caller tokens signed by an impostor under `authority`'s issuer and kid: each
 * costs the service a failed signature check.
 */
export async function forgedTokens(
  authority: Pick<TestAuthority, "issuer" | "kid">,
  count: number,
  claims: (i: number) => Record<string, unknown> = (i) => ({ sub: `attacker-${i}` }),
): Promise<string[]> {
  const impostor = await createTestAuthority(authority.issuer, authority.kid);
  return await Promise.all(
    Array.from({ length: count }, (_, i) => impostor.token({ claims: claims(i) })),
  );
}
