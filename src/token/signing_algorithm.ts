/**
 * The JWS algorithms a signing key signs with, and the EC curves among them: the vocabulary the
 * key loader and the `kid` derivation share (so neither imports the other for it).
 *
 * @module
 */

/** JWS algorithms a signing key can sign with; the key's type and curve decide which. */
export type SigningAlgorithm = "RS256" | "ES256" | "ES384" | "EdDSA";

/** The EC curves a signing key may be on. */
export type EcCurve = "P-256" | "P-384";
