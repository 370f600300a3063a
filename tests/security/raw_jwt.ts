/**
 * Hand-made JWTs for the security tests: a test Authority whose private key can sign any
 * header and payload *text* (duplicate keys, unknown `crit`, non-JSON…), which jose's
 * `SignJWT` refuses to produce, plus helpers to read the service's answers.
 *
 * @module
 */

import assert from "node:assert/strict";
import { exportJWK, generateKeyPair, type JWK, type JWTPayload, SignJWT } from "jose";
import {
  type CallerTokenOverrides,
  NOW_SECONDS,
  type TestAuthority,
} from "../support/authority.ts";
import { DENIAL_REASONS } from "../../src/denial.ts";

/** A test Authority (ES256) that also signs raw header/payload text. */
export interface RawAuthority extends TestAuthority {
  readonly privateKey: CryptoKey;
  readonly publicKey: CryptoKey;
  /** The public key as published in the JWKS (with `kid`, `alg`, `use`). */
  readonly publicJwk: JWK;
  /** Signs `base64url(header).base64url(payload)` exactly as given, with the Authority's key. */
  signRaw(headerText: string, payloadText: string): Promise<string>;
}

const encoder = new TextEncoder();

/** base64url without padding of UTF-8 text or bytes. */
export function b64url(input: string | Uint8Array): string {
  const bytes = typeof input === "string" ? encoder.encode(input) : input;
  let binary = "";
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return btoa(binary).replaceAll("+", "-").replaceAll("/", "_").replace(/=+$/, "");
}

/** Decodes one base64url segment to text (lenient; for test-side inspection only). */
export function unb64url(segment: string): string {
  const base64 = segment.replaceAll("-", "+").replaceAll("_", "/");
  const binary = atob(base64 + "=".repeat((4 - base64.length % 4) % 4));
  return new TextDecoder().decode(Uint8Array.from(binary, (c) => c.charCodeAt(0)));
}

/** Signs `headerText.payloadText` (each base64url-encoded) with an ES256 private key. */
export async function signEs256Raw(
  privateKey: CryptoKey,
  headerText: string,
  payloadText: string,
): Promise<string> {
  const input = `${b64url(headerText)}.${b64url(payloadText)}`;
  const signature = await crypto.subtle.sign(
    { name: "ECDSA", hash: "SHA-256" },
    privateKey,
    encoder.encode(input),
  );
  return `${input}.${b64url(new Uint8Array(signature))}`;
}

/** Creates an Authority like `createTestAuthority`, keeping its keys for raw signing. */
export async function createRawAuthority(
  issuer = "https://authority.test",
  kid = "authority-key-1",
): Promise<RawAuthority> {
  const { privateKey, publicKey } = await generateKeyPair("ES256", { extractable: true });
  const publicJwk = { ...await exportJWK(publicKey), kid, alg: "ES256", use: "sig" };
  return {
    issuer,
    kid,
    jwks: { keys: [publicJwk] },
    privateKey,
    publicKey,
    publicJwk,
    async token(overrides: CallerTokenOverrides = {}) {
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

/** The claims of a valid caller token of `issuer` (as `createTestAuthority` makes them). */
export function defaultClaims(issuer: string): Record<string, unknown> {
  return {
    iss: issuer,
    sub: "ci-bot",
    scope: "registry.token.issue",
    iat: NOW_SECONDS,
    exp: NOW_SECONDS + 600,
  };
}

/** The error of a refusal, after checking the registry error form. */
export interface RegistryError {
  readonly code: string;
  readonly message: string;
  readonly detail: { readonly reason: string } & Record<string, unknown>;
}

/**
 * Asserts `body` is `{"errors":[{code,message,detail:{reason}}]}` with a known reason whose
 * rendering matches `status`, and that it carries no token; returns the error.
 */
export function assertRegistryError(status: number, body: unknown, what = ""): RegistryError {
  assert.ok(body !== null && typeof body === "object", `${what}: body is an object`);
  const record = body as Record<string, unknown>;
  assert.equal(record.token, undefined, `${what}: a refusal carries no token`);
  assert.equal(record.access_token, undefined, `${what}: a refusal carries no access_token`);
  assert.ok(Array.isArray(record.errors) && record.errors.length === 1, `${what}: one error`);
  const error = record.errors[0] as RegistryError;
  assert.equal(typeof error.code, "string", `${what}: code`);
  assert.equal(typeof error.message, "string", `${what}: message`);
  assert.ok(error.detail !== null && typeof error.detail === "object", `${what}: detail`);
  assert.equal(typeof error.detail.reason, "string", `${what}: detail.reason`);
  const rendering = (DENIAL_REASONS as Record<string, { status: number; code: string }>)[
    error.detail.reason
  ];
  assert.ok(rendering, `${what}: ${error.detail.reason} is a documented reason`);
  assert.equal(status, rendering.status, `${what}: status matches ${error.detail.reason}`);
  assert.equal(error.code, rendering.code, `${what}: code matches ${error.detail.reason}`);
  return error;
}
