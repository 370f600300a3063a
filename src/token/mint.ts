/**
 * Minting: the registry token's claims, and signing with the configured key (RS256, ES256,
 * ES384 or EdDSA, as the key's type and curve decide).
 *
 * @module
 */

import { encodeBase64Url } from "../encoding.ts";
import type { AccessEntry } from "../authz/plan.ts";
import { signatureParams, type SigningKey } from "./keys.ts";
import { LICENSE_CLAIM } from "../authn/caller.ts";

/** The claims of a Docker-registry-compatible token. */
export interface RegistryClaims {
  readonly iss: string;
  readonly sub: string;
  /** A single string: distribution 2.x cannot parse an array here. */
  readonly aud: string;
  readonly exp: number;
  readonly nbf: number;
  readonly iat: number;
  readonly jti: string;
  readonly service: string;
  readonly access: readonly AccessEntry[];
  readonly [LICENSE_CLAIM]?: string;
}

/** Inputs of one token. */
export interface TokenRequest {
  readonly issuer: string;
  readonly subject: string;
  readonly service: string;
  /** `Signing:Audience`; the requested service when unset. */
  readonly audience?: string;
  readonly access: readonly AccessEntry[];
  readonly license?: string;
  /** Issue time, whole seconds since the epoch. */
  readonly issuedAt: number;
  readonly lifetimeSeconds: number;
  readonly jti: string;
}

/** Builds the registry token's claims. */
export function registryClaims(request: TokenRequest): RegistryClaims {
  return {
    iss: request.issuer,
    sub: request.subject,
    aud: request.audience ?? request.service,
    exp: request.issuedAt + request.lifetimeSeconds,
    nbf: request.issuedAt,
    iat: request.issuedAt,
    jti: request.jti,
    service: request.service,
    access: request.access,
    ...(request.license === undefined ? {} : { [LICENSE_CLAIM]: request.license }),
  };
}

/** Signs claims into a compact JWS. */
export type TokenSigner = (claims: RegistryClaims) => Promise<string>;

/**
 * Creates a signer for `key`, whose `alg` names the header's algorithm and the signature: an
 * RSASSA-PKCS1-v1_5 signature for RS256, for ES256/ES384 the fixed-size `r || s` that JWS
 * (RFC 7518 §3.4) wants and WebCrypto's ECDSA gives, for EdDSA the 64-byte Ed25519 signature
 * (RFC 8037 §3.1). The protected header is encoded once, here, not per token.
 */
export function createTokenSigner(key: SigningKey): TokenSigner {
  const header = {
    alg: key.alg,
    typ: "JWT",
    kid: key.kid,
    ...(key.certificateChain.length ? { x5c: key.certificateChain } : {}),
  };
  const encodedHeader = encodeBase64Url(JSON.stringify(header));
  const encoder = new TextEncoder();
  const algorithm = signatureParams(key.alg);
  return async (claims) => {
    const signingInput = `${encodedHeader}.${encodeBase64Url(JSON.stringify(claims))}`;
    const signature = await crypto.subtle.sign(
      algorithm,
      key.privateKey,
      encoder.encode(signingInput),
    );
    return `${signingInput}.${encodeBase64Url(new Uint8Array(signature))}`;
  };
}
