/**
 * Loads the key that signs registry tokens, with its certificate chain and key ID: an RSA key
 * of at least 2048 bits (RS256), an EC key on P-256 (ES256) or P-384 (ES384), or an Ed25519 key
 * (EdDSA).
 *
 * Accepted key files: PEM (`PRIVATE KEY`, `RSA PRIVATE KEY`, `EC PRIVATE KEY`,
 * `ENCRYPTED PRIVATE KEY`, and `RSA PRIVATE KEY` or `EC PRIVATE KEY` with legacy
 * `Proc-Type: 4,ENCRYPTED` headers), optionally followed by `CERTIFICATE` blocks, and PKCS#12
 * (`.pfx`/`.p12`, recognised by content) in both the modern AES/PBKDF2 and the legacy 3DES/RC2
 * flavours, for every key type. The `kid` is derived in `key_id.ts`.
 *
 * @module
 */

import { createPublicKey, type KeyObject } from "node:crypto";
import { chainFor, pemCertificates } from "./certificate_chain.ts";
import { errorMessage } from "../error_message.ts";
import { KeyLoadError, unsupported } from "./key_errors.ts";
import { keyIdFor, type KeyIdFormat, thumbprintMembers } from "./key_id.ts";
import type { KeyFile } from "./key_file.ts";
import type { EcCurve, SigningAlgorithm } from "./signing_algorithm.ts";
import { parsePemKeyFile } from "./pem_key.ts";
import { parsePkcs12 } from "./pkcs12.ts";

export { KeyLoadError, type KeyLoadErrorCode } from "./key_errors.ts";
export { KEY_ID_FORMATS, type KeyIdFormat } from "./key_id.ts";

/** Where the signing key comes from, as configured. */
export interface SigningKeySource {
  /** PEM or PKCS#12 file holding the private key (and optionally its certificates). */
  readonly keyPath: string;
  /** Password of an encrypted PEM key or of a PKCS#12 file. */
  readonly keyPassword?: string;
  /** PEM file with more certificates; merged with those in the key file, leaf found by key. */
  readonly certificatePath?: string;
  /** Explicit `kid`; defaults to the key ID `keyIdFormat` derives. */
  readonly keyId?: string;
  /**
   * How the default key ID is derived: libtrust (distribution 2.x) or RFC 7638 thumbprint (3.x).
   * Unset: libtrust for RSA and EC keys, the thumbprint for Ed25519 keys (which libtrust lacks).
   */
  readonly keyIdFormat?: KeyIdFormat;
}

export type { SigningAlgorithm } from "./signing_algorithm.ts";

/** A loaded signing key. */
export interface SigningKey {
  /** JWS algorithm the key signs with: RS256 (RSA), ES256 (P-256), ES384 (P-384), EdDSA (Ed25519). */
  readonly alg: SigningAlgorithm;
  /** Key ID for the JWS header: the configured one, else the one `keyIdFormat` derives. */
  readonly kid: string;
  /**
   * Non-extractable private key, usage `sign`: RSASSA-PKCS1-v1_5 / SHA-256 for RS256, ECDSA on
   * the key's curve for ES256/ES384, Ed25519 for EdDSA; sign with {@link signatureParams}`(alg)`.
   */
  readonly privateKey: CryptoKey;
  /** Matching public key, usage `verify`. */
  readonly publicKey: CryptoKey;
  /** Public JWK, for a JWKS or `jwk` header; assignable to `JsonWebKey`. */
  readonly publicJwk: PublicJwk;
  /** Base64 (not base64url) DER certificates for `x5c`, leaf first; empty if none were given. */
  readonly certificateChain: readonly string[];
}

/** The public half of a signing key as a JWK (RFC 7517), with nothing else in it. */
export type PublicJwk = RsaPublicJwk | EcPublicJwk | OkpPublicJwk;

/** The public half of an RSA signing key as a JWK. */
export interface RsaPublicJwk {
  /** Key type. */
  readonly kty: "RSA";
  /** Modulus, base64url. */
  readonly n: string;
  /** Public exponent, base64url. */
  readonly e: string;
  /** Same as {@link SigningKey.kid}. */
  readonly kid: string;
  /** Algorithm the key is used with. */
  readonly alg: "RS256";
  /** Public key use: signatures. */
  readonly use: "sig";
  // Absent; declared so that any member of a `PublicJwk` can be read without narrowing.
  readonly crv?: never;
  readonly x?: never;
  readonly y?: never;
}

/** The public half of an EC signing key as a JWK. */
export interface EcPublicJwk {
  /** Key type. */
  readonly kty: "EC";
  /** Curve. */
  readonly crv: EcCurve;
  /** X coordinate, base64url. */
  readonly x: string;
  /** Y coordinate, base64url. */
  readonly y: string;
  /** Same as {@link SigningKey.kid}. */
  readonly kid: string;
  /** Algorithm the key is used with: ES256 for P-256, ES384 for P-384. */
  readonly alg: "ES256" | "ES384";
  /** Public key use: signatures. */
  readonly use: "sig";
  // Absent; declared so that any member of a `PublicJwk` can be read without narrowing.
  readonly n?: never;
  readonly e?: never;
}

/** The public half of an Ed25519 signing key as a JWK (RFC 8037). */
export interface OkpPublicJwk {
  /** Key type: octet key pair. */
  readonly kty: "OKP";
  /** Curve. */
  readonly crv: "Ed25519";
  /** The public key, base64url. */
  readonly x: string;
  /** Same as {@link SigningKey.kid}. */
  readonly kid: string;
  /** Algorithm the key is used with. */
  readonly alg: "EdDSA";
  /** Public key use: signatures. */
  readonly use: "sig";
  // Absent; declared so that any member of a `PublicJwk` can be read without narrowing.
  readonly n?: never;
  readonly e?: never;
  readonly y?: never;
}

/** How each algorithm's keys are imported into WebCrypto. */
const IMPORT_PARAMS: Record<
  SigningAlgorithm,
  RsaHashedImportParams | EcKeyImportParams | Algorithm
> = {
  RS256: { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" },
  ES256: { name: "ECDSA", namedCurve: "P-256" },
  ES384: { name: "ECDSA", namedCurve: "P-384" },
  EdDSA: { name: "Ed25519" },
};

/** How each algorithm signs with WebCrypto. */
const SIGNATURE_PARAMS: Record<SigningAlgorithm, AlgorithmIdentifier | EcdsaParams> = {
  RS256: { name: "RSASSA-PKCS1-v1_5" },
  ES256: { name: "ECDSA", hash: "SHA-256" },
  ES384: { name: "ECDSA", hash: "SHA-384" },
  EdDSA: { name: "Ed25519" },
};

/** The algorithm of each supported EC curve, by the names node:crypto may report. */
const EC_CURVES: Record<string, EcPublicJwk["alg"]> = {
  prime256v1: "ES256",
  "P-256": "ES256",
  secp384r1: "ES384",
  "P-384": "ES384",
};

/** Readable names of the other key types node:crypto reports. */
const KEY_TYPE_NAMES: Record<string, string> = {
  ed448: "Ed448",
  x25519: "X25519",
  x448: "X448",
  "rsa-pss": "RSA-PSS",
  dsa: "DSA",
  dh: "DH",
};

const MIN_MODULUS_BITS = 2048;

/** What the key-type errors say can be used instead. */
const SUPPORTED_KEYS = "use an RSA key of at least 2048 bits (RS256), an EC key on P-256 " +
  "(ES256) or P-384 (ES384), or an Ed25519 key (EdDSA)";

/**
 * The WebCrypto algorithm that signs with a key of algorithm `alg`; for ES256/ES384 its output
 * is the fixed-size `r || s` a JWS carries (X.509 wants it DER-encoded instead).
 */
export function signatureParams(alg: SigningAlgorithm): AlgorithmIdentifier | EcdsaParams {
  return SIGNATURE_PARAMS[alg];
}

/**
 * Loads and checks the signing key described by `source`.
 *
 * @param source configured key, password, certificate file and key ID
 * @param readFile reads a whole file; injected so tests can supply bytes
 * @throws {KeyLoadError} when a file is unreadable, malformed or locked, the key is not
 *   RSA-2048+, EC P-256/P-384 or Ed25519, its certificates do not belong to the key, or a
 *   libtrust key ID is asked of an Ed25519 key
 */
export async function loadSigningKey(
  source: SigningKeySource,
  readFile: (path: string) => Promise<Uint8Array> = Deno.readFile,
): Promise<SigningKey> {
  const keyFile = parseKeyFile(await read(readFile, source.keyPath, "KEY_UNREADABLE"), source);
  const certificates = [...keyFile.certificates];
  if (source.certificatePath !== undefined) {
    const path = source.certificatePath;
    const bytes = await read(readFile, path, "CERTIFICATE_UNREADABLE");
    certificates.push(...pemCertificates(bytes, path));
  }

  const { key } = keyFile;
  const alg = signingAlgorithm(key, source.keyPath);
  const spki = new Uint8Array(createPublicKey(key).export({ type: "spki", format: "der" }));
  const certificateChain = Object.freeze(chainFor(spki, certificates, source));
  const pkcs8 = new Uint8Array(key.export({ type: "pkcs8", format: "der" }));

  const params = IMPORT_PARAMS[alg];
  const privateKey = await crypto.subtle.importKey("pkcs8", pkcs8, params, false, ["sign"]);
  const publicKey = await crypto.subtle.importKey("spki", spki, params, true, ["verify"]);
  const required = thumbprintMembers(alg, await crypto.subtle.exportKey("jwk", publicKey));
  const kid = await keyIdFor(alg, spki, required, source);
  const publicJwk = Object.freeze({ ...required, kid, alg, use: "sig" }) as PublicJwk;
  return Object.freeze({ alg, kid, privateKey, publicKey, publicJwk, certificateChain });
}

async function read(
  readFile: (path: string) => Promise<Uint8Array>,
  path: string,
  code: "KEY_UNREADABLE" | "CERTIFICATE_UNREADABLE",
): Promise<Uint8Array> {
  try {
    return await readFile(path);
  } catch (err) {
    throw new KeyLoadError(code, path, `cannot read ${path}: ${readFailure(err)}`);
  }
}

function parseKeyFile(bytes: Uint8Array, source: SigningKeySource): KeyFile {
  const text = new TextDecoder().decode(bytes);
  if (text.includes("-----BEGIN ")) return parsePemKeyFile(text, source);
  // Every PKCS#12 file is a DER SEQUENCE; anything else is neither format.
  if (bytes[0] === 0x30) return parsePkcs12(bytes, source);
  throw unsupported(source.keyPath, `${source.keyPath} is neither a PEM nor a PKCS#12 file`);
}

/** The JWS algorithm for `key`; throws unless it is RSA-2048+, EC on P-256 or P-384, or Ed25519. */
function signingAlgorithm(key: KeyObject, path: string): SigningAlgorithm {
  const type = key.asymmetricKeyType;
  if (type === "ed25519") return "EdDSA";
  if (type === "ec") {
    const curve = key.asymmetricKeyDetails?.namedCurve ?? "unknown";
    const alg = EC_CURVES[curve];
    if (alg === undefined) throw unsupportedType(path, `an EC key on curve ${curve}`);
    return alg;
  }
  if (type !== "rsa") {
    const name = type === undefined ? "unknown" : KEY_TYPE_NAMES[type] ?? type.toUpperCase();
    throw unsupportedType(path, `a key of type ${name}`);
  }
  const bits = key.asymmetricKeyDetails?.modulusLength ?? 0;
  if (bits < MIN_MODULUS_BITS) {
    throw new KeyLoadError(
      "KEY_TOO_SMALL",
      path,
      `${path} holds a ${bits}-bit RSA key; at least ${MIN_MODULUS_BITS} bits are required`,
    );
  }
  return "RS256";
}

function unsupportedType(path: string, what: string): KeyLoadError {
  return new KeyLoadError(
    "KEY_TYPE_UNSUPPORTED",
    path,
    `${path} holds ${what}, which cannot sign registry tokens; ${SUPPORTED_KEYS}`,
  );
}

function readFailure(err: unknown): string {
  if (err instanceof Deno.errors.NotFound) return "no such file";
  if (err instanceof Deno.errors.PermissionDenied) return "permission denied";
  if (err instanceof Deno.errors.IsADirectory) return "it is a directory";
  return errorMessage(err);
}
