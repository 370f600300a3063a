/**
 * The `kid` of a signing key: the configured one, else derived as `keyIdFormat` says, the
 * libtrust key ID (distribution 2.x) or the RFC 7638 thumbprint (3.x). libtrust has no form for
 * Ed25519 keys, so theirs is always the thumbprint (RFC 8037 §2), and asking for a libtrust one
 * is an error.
 *
 * @module
 */

import { calculateJwkThumbprint } from "jose";
import { KeyLoadError } from "./key_errors.ts";
import type { EcCurve, SigningAlgorithm } from "./signing_algorithm.ts";
import { libtrustKeyId } from "./libtrust.ts";

/** What of a key's configuration decides its `kid` (a `SigningKeySource` fits). */
export interface KeyIdSource {
  /** The key file, named in errors. */
  readonly keyPath: string;
  /** An explicit `kid`. */
  readonly keyId?: string;
  readonly keyIdFormat?: KeyIdFormat;
}

/** Formats of derived key IDs: libtrust (distribution 2.x) or RFC 7638 thumbprint. */
export const KEY_ID_FORMATS = ["libtrust", "thumbprint"] as const;

/** A format of derived key IDs. */
export type KeyIdFormat = typeof KEY_ID_FORMATS[number];

/**
 * The members RFC 7638 hashes for a thumbprint: exactly the required ones of the key type
 * (RFC 8037 §2 for OKP), taken from the key's JWK export.
 */
export function thumbprintMembers(alg: SigningAlgorithm, { n, e, crv, x, y }: JsonWebKey) {
  if (alg === "RS256") return { kty: "RSA" as const, n: n!, e: e! };
  if (alg === "EdDSA") return { kty: "OKP" as const, crv: "Ed25519" as const, x: x! };
  return { kty: "EC" as const, crv: crv as EcCurve, x: x!, y: y! };
}

/**
 * The key's `kid`: `source.keyId`, else derived from its SubjectPublicKeyInfo (libtrust) or its
 * {@link thumbprintMembers} (thumbprint).
 *
 * @throws {KeyLoadError} `KEY_ID_FORMAT_UNSUPPORTED` when libtrust is asked of an Ed25519 key
 */
export async function keyIdFor(
  alg: SigningAlgorithm,
  spki: Uint8Array,
  members: ReturnType<typeof thumbprintMembers>,
  source: KeyIdSource,
): Promise<string> {
  const format = keyIdFormatFor(alg, source);
  if (source.keyId !== undefined) return source.keyId;
  return format === "thumbprint"
    ? await calculateJwkThumbprint(members)
    : await libtrustKeyId(spki);
}

/** The `kid` format of a key signing with `alg` when `configured` (`Signing:KeyIdFormat`) allows. */
export function effectiveKeyIdFormat(alg: SigningAlgorithm, configured?: KeyIdFormat): KeyIdFormat {
  return configured ?? (alg === "EdDSA" ? "thumbprint" : "libtrust");
}

/** How the default `kid` of a key signing with `alg` is derived; libtrust lacks Ed25519. */
function keyIdFormatFor(alg: SigningAlgorithm, source: KeyIdSource): KeyIdFormat {
  if (alg !== "EdDSA") return effectiveKeyIdFormat(alg, source.keyIdFormat);
  if (source.keyIdFormat === "libtrust") {
    throw new KeyLoadError(
      "KEY_ID_FORMAT_UNSUPPORTED",
      source.keyPath,
      `${source.keyPath} holds an Ed25519 key, which has no libtrust key ID (libtrust knows ` +
        "RSA and EC keys only, and distribution 2.x cannot verify EdDSA anyway); leave the " +
        "format unset or use thumbprint, the RFC 7638 thumbprint distribution 3.x matches",
    );
  }
  return "thumbprint";
}
