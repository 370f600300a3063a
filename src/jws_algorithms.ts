/**
 * The asymmetric JWS algorithms this service verifies: for caller tokens and DPoP proofs.
 * Never `none` and never HMAC, whose "key" a verifier would have to share.
 *
 * @module
 */

/** Every asymmetric JWS algorithm WebCrypto verifies here. */
export const ASYMMETRIC_JWS_ALGORITHMS: readonly string[] = [
  "RS256",
  "RS384",
  "RS512",
  "PS256",
  "PS384",
  "PS512",
  "ES256",
  "ES384",
  "ES512",
  "EdDSA",
  "Ed25519",
];
