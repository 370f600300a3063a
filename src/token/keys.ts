/**
 * Loads the key that signs registry tokens, with its certificate chain and key ID: an RSA key
 * of at least 2048 bits (RS256), or an EC key on P-256 (ES256) or P-384 (ES384).
 *
 * Accepted key files: PEM (`PRIVATE KEY`, `RSA PRIVATE KEY`, `EC PRIVATE KEY`,
 * `ENCRYPTED PRIVATE KEY`, and `RSA PRIVATE KEY` or `EC PRIVATE KEY` with legacy
 * `Proc-Type: 4,ENCRYPTED` headers), optionally followed by `CERTIFICATE` blocks, and PKCS#12
 * (`.pfx`/`.p12`, recognised by content) in both the modern AES/PBKDF2 and the legacy 3DES/RC2
 * flavours, for either key type.
 *
 * @module
 */

import { Buffer } from "node:buffer";
import { createPrivateKey, createPublicKey, type KeyObject, X509Certificate } from "node:crypto";
import { calculateJwkThumbprint } from "jose";
import { libtrustKeyId } from "./libtrust.ts";
import {
  type Cipher,
  forge,
  type ForgeAsn1,
  type PemMessage,
  type Pkcs12,
  type SafeBag,
} from "./forge.ts";

/** Where the signing key comes from, as configured. */
export interface SigningKeySource {
  /** PEM or PKCS#12 file holding the private key (and optionally its certificates). */
  readonly keyPath: string;
  /** Password of an encrypted PEM key or of a PKCS#12 file. */
  readonly keyPassword?: string;
  /** PEM file with more certificates; merged with those in the key file, leaf found by key. */
  readonly certificatePath?: string;
  /** Explicit `kid`; defaults to the libtrust key ID of the public key. */
  readonly keyId?: string;
  /** How the default key ID is derived: libtrust (distribution 2.x) or RFC 7638 thumbprint (3.x). */
  readonly keyIdFormat?: KeyIdFormat;
}

/** Formats of derived key IDs. */
export type KeyIdFormat = "libtrust" | "thumbprint";

/** JWS algorithms a signing key can sign with; the key's type and curve decide which. */
export type SigningAlgorithm = "RS256" | "ES256" | "ES384";

/** A loaded signing key. */
export interface SigningKey {
  /** JWS algorithm the key signs with: RS256 for RSA, ES256 for P-256, ES384 for P-384. */
  readonly alg: SigningAlgorithm;
  /** Key ID for the JWS header: the configured one, else the libtrust key ID. */
  readonly kid: string;
  /**
   * Non-extractable private key, usage `sign`: RSASSA-PKCS1-v1_5 / SHA-256 for RS256, ECDSA on
   * the key's curve for ES256/ES384; sign with {@link signatureParams}`(alg)`.
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
export type PublicJwk = RsaPublicJwk | EcPublicJwk;

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
  readonly crv: "P-256" | "P-384";
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

/** Why a signing key could not be loaded. */
export type KeyLoadErrorCode =
  | "KEY_UNREADABLE"
  | "KEY_PASSWORD_REQUIRED"
  | "KEY_PASSWORD_WRONG"
  | "KEY_TYPE_UNSUPPORTED"
  | "KEY_FORMAT_UNSUPPORTED"
  | "KEY_TOO_SMALL"
  | "CERTIFICATE_UNREADABLE"
  | "CERTIFICATE_INVALID"
  | "CERTIFICATE_KEY_MISMATCH";

/** A signing key that cannot be used; the message is one line, free of passwords and key bytes. */
export class KeyLoadError extends Error {
  override readonly name = "KeyLoadError";
  /** Machine-readable reason. */
  readonly code: KeyLoadErrorCode;
  /** The file the problem was found in. */
  readonly path: string;

  /**
   * @param code why loading failed
   * @param path the file at fault
   * @param message what the operator should fix
   */
  constructor(code: KeyLoadErrorCode, path: string, message: string) {
    super(message);
    this.code = code;
    this.path = path;
  }
}

/** How each algorithm's keys are imported into WebCrypto. */
const IMPORT_PARAMS: Record<SigningAlgorithm, RsaHashedImportParams | EcKeyImportParams> = {
  RS256: { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" },
  ES256: { name: "ECDSA", namedCurve: "P-256" },
  ES384: { name: "ECDSA", namedCurve: "P-384" },
};

/** How each algorithm signs with WebCrypto. */
const SIGNATURE_PARAMS: Record<SigningAlgorithm, AlgorithmIdentifier | EcdsaParams> = {
  RS256: { name: "RSASSA-PKCS1-v1_5" },
  ES256: { name: "ECDSA", hash: "SHA-256" },
  ES384: { name: "ECDSA", hash: "SHA-384" },
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
  ed25519: "Ed25519",
  ed448: "Ed448",
  x25519: "X25519",
  x448: "X448",
  "rsa-pss": "RSA-PSS",
  dsa: "DSA",
  dh: "DH",
};

const MIN_MODULUS_BITS = 2048;

/** What the key-type errors say can be used instead. */
const SUPPORTED_KEYS =
  "use an RSA key of at least 2048 bits (RS256) or an EC key on P-256 (ES256) or P-384 (ES384)";

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
 * @throws {KeyLoadError} when a file is unreadable, malformed or locked, the key is neither
 *   RSA-2048+ nor EC P-256/P-384, or its certificates do not belong to the key
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
  const { n, e, crv, x, y } = await crypto.subtle.exportKey("jwk", publicKey);
  // The members RFC 7638 hashes for a thumbprint: exactly the required ones of the key type.
  const required = alg === "RS256"
    ? { kty: "RSA" as const, n: n!, e: e! }
    : { kty: "EC" as const, crv: crv as EcPublicJwk["crv"], x: x!, y: y! };
  const kid = source.keyId ??
    (source.keyIdFormat === "thumbprint"
      ? await calculateJwkThumbprint(required)
      : await libtrustKeyId(spki));
  const publicJwk: PublicJwk = Object.freeze(
    required.kty === "RSA"
      ? { ...required, kid, alg: "RS256" as const, use: "sig" as const }
      : { ...required, kid, alg: alg as EcPublicJwk["alg"], use: "sig" as const },
  );
  return Object.freeze({ alg, kid, privateKey, publicKey, publicJwk, certificateChain });
}

/** A certificate as found, before it is parsed. */
interface FoundCertificate {
  readonly der: Uint8Array;
  /** The file it came from. */
  readonly path: string;
  /** Its 1-based position among the certificates of that file. */
  readonly position: number;
}

/** What a key file yields. */
interface KeyFile {
  readonly key: KeyObject;
  readonly certificates: readonly FoundCertificate[];
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

function parsePemKeyFile(text: string, source: SigningKeySource): KeyFile {
  const path = source.keyPath;
  const messages = decodePem(text, () => unsupported(path, `${path} is not well-formed PEM`));
  const keys = messages.filter((message) => message.type.endsWith("PRIVATE KEY"));
  if (keys.length === 0) {
    const found = messages.map((message) => message.type).join(", ") || "none";
    throw unsupported(path, `${path} holds no private key (PEM blocks: ${found})`);
  }
  if (keys.length > 1) {
    throw unsupported(path, `${path} holds ${keys.length} private keys; expected one`);
  }
  return {
    key: pemPrivateKey(keys[0], source),
    certificates: pemCertificateMessages(messages, path),
  };
}

/** The DER structure inside each unencrypted PEM private key type. */
const PEM_KEY_TYPES: Record<string, "pkcs8" | "pkcs1" | "sec1"> = {
  "PRIVATE KEY": "pkcs8",
  "RSA PRIVATE KEY": "pkcs1",
  "EC PRIVATE KEY": "sec1",
};

function pemPrivateKey(message: PemMessage, { keyPath, keyPassword }: SigningKeySource): KeyObject {
  const body = fromBinary(message.body);
  const type = PEM_KEY_TYPES[message.type];
  const legacyEncrypted = message.procType?.type === "ENCRYPTED";
  if (type !== undefined && !legacyEncrypted) return privateKeyObject(body, type, keyPath);
  if (type === undefined && message.type !== "ENCRYPTED PRIVATE KEY") {
    throw unsupported(
      keyPath,
      `${keyPath} holds an unsupported "${message.type}"; use PKCS#8, PKCS#1, SEC 1 or PKCS#12`,
    );
  }

  if (keyPassword === undefined) {
    throw new KeyLoadError(
      "KEY_PASSWORD_REQUIRED",
      keyPath,
      `${keyPath} is encrypted and no key password is configured`,
    );
  }
  // OpenSSL derives keys from the password's UTF-8 bytes; node-forge wants them as a binary string.
  const password = forge.util.encodeUtf8(keyPassword);
  if (legacyEncrypted) {
    if (type === undefined) {
      throw unsupported(keyPath, `${keyPath} has PEM encryption headers on a "${message.type}"`);
    }
    const der = decrypt(keyPath, () => decryptLegacyPem(message, password));
    return privateKeyObject(fromBinary(der), type, keyPath, "KEY_PASSWORD_WRONG");
  }
  const encrypted = parseDer(message.body, keyPath);
  const info = decrypt(keyPath, () => forge.pki.decryptPrivateKeyInfo(encrypted, password));
  // A wrong password occasionally decrypts to well-padded garbage that only fails here.
  return privateKeyObject(derOf(info), "pkcs8", keyPath, "KEY_PASSWORD_WRONG");
}

/** Ciphers of OpenSSL's legacy PEM encryption (`Proc-Type: 4,ENCRYPTED`), by DEK-Info name. */
const LEGACY_PEM_CIPHERS: Record<string, { keyBytes: number; cipher: (key: string) => Cipher }> = {
  "DES-CBC": { keyBytes: 8, cipher: (key) => forge.des.createDecryptionCipher(key) },
  "DES-EDE3-CBC": { keyBytes: 24, cipher: (key) => forge.des.createDecryptionCipher(key) },
  "AES-128-CBC": { keyBytes: 16, cipher: (key) => forge.aes.createDecryptionCipher(key) },
  "AES-192-CBC": { keyBytes: 24, cipher: (key) => forge.aes.createDecryptionCipher(key) },
  "AES-256-CBC": { keyBytes: 32, cipher: (key) => forge.aes.createDecryptionCipher(key) },
  "RC2-40-CBC": { keyBytes: 5, cipher: (key) => forge.rc2.createDecryptionCipher(key, 40) },
  "RC2-64-CBC": { keyBytes: 8, cipher: (key) => forge.rc2.createDecryptionCipher(key, 64) },
  "RC2-128-CBC": { keyBytes: 16, cipher: (key) => forge.rc2.createDecryptionCipher(key, 128) },
};

/**
 * Decrypts the body of a legacy-encrypted PEM key (any key type) as OpenSSL does: key from
 * EVP_BytesToKey(MD5) over the password and the first 8 IV bytes, then CBC with PKCS#7 padding.
 * Returns null when the padding is wrong, which is what a wrong password usually gives.
 */
function decryptLegacyPem(message: PemMessage, password: string): string | null {
  const algorithm = message.dekInfo?.algorithm ?? "";
  const scheme = LEGACY_PEM_CIPHERS[algorithm.toUpperCase()];
  if (scheme === undefined) {
    throw new Error(`PEM cipher "${algorithm}" is not supported`);
  }
  const iv = forge.util.hexToBytes(message.dekInfo?.parameters ?? "");
  const cipher = scheme.cipher(
    forge.pbe.opensslDeriveBytes(password, iv.slice(0, 8), scheme.keyBytes),
  );
  cipher.start(iv);
  cipher.update(forge.util.createBuffer(message.body));
  return cipher.finish() ? cipher.output.getBytes() : null;
}

/** Runs a node-forge decryption, telling an unsupported scheme from a wrong password. */
function decrypt<T>(path: string, attempt: () => T | null): T {
  let result: T | null;
  try {
    result = attempt();
  } catch (err) {
    // node-forge names unknown ciphers, KDFs and PRFs "unsupported"; any other throw comes
    // from parsing what a wrong password decrypted to.
    const reason = messageOf(err);
    if (/supported/i.test(reason)) {
      throw unsupported(path, `${path} uses an unsupported encryption: ${reason}`);
    }
    result = null;
  }
  if (result === null) {
    throw new KeyLoadError("KEY_PASSWORD_WRONG", path, `wrong key password for ${path}`);
  }
  return result;
}

function parsePkcs12(bytes: Uint8Array, { keyPath, keyPassword }: SigningKeySource): KeyFile {
  const pfx = parseDer(toBinary(bytes), keyPath);
  let p12: Pkcs12;
  try {
    // PKCS#12 files may legitimately use an empty password.
    p12 = decodePkcs12(pfx, keyPassword ?? "");
  } catch (err) {
    const reason = messageOf(err);
    if (/password/i.test(reason)) {
      throw keyPassword === undefined
        ? new KeyLoadError(
          "KEY_PASSWORD_REQUIRED",
          keyPath,
          `${keyPath} is a password-protected PKCS#12 file and no key password is configured`,
        )
        : new KeyLoadError("KEY_PASSWORD_WRONG", keyPath, `wrong key password for ${keyPath}`);
    }
    throw unsupported(keyPath, `${keyPath} is not a readable PKCS#12 file: ${reason}`);
  }

  const keyBags = [
    ...bagsOf(p12, forge.pki.oids.pkcs8ShroudedKeyBag),
    ...bagsOf(p12, forge.pki.oids.keyBag),
  ];
  if (keyBags.length !== 1) {
    throw unsupported(keyPath, `${keyPath} holds ${keyBags.length} private keys; expected one`);
  }
  // node-forge decodes RSA keys into objects and leaves other key types (EC) as raw PKCS#8.
  const [{ key, asn1 }] = keyBags;
  const keyObject = key
    ? privateKeyObject(derOf(forge.pki.privateKeyToAsn1(key)), "pkcs1", keyPath)
    : privateKeyObject(derOf(asn1!), "pkcs8", keyPath);

  const certificates = bagsOf(p12, forge.pki.oids.certBag).map((bag, index) => ({
    // node-forge turns the certificates it can model (RSA keys) into objects, so those are
    // re-encoded, and leaves others as ASN.1; the tests check both against the original bytes.
    der: derOf(bag.cert ? forge.pki.certificateToAsn1(bag.cert) : bag.asn1!),
    path: keyPath,
    position: index + 1,
  }));
  return { key: keyObject, certificates };
}

function decodePkcs12(pfx: ForgeAsn1, password: string): Pkcs12 {
  try {
    return forge.pkcs12.pkcs12FromAsn1(pfx, password);
  } catch (err) {
    // node-forge checks the MAC with the password as UTF-16, as it should, but feeds PBES2 the
    // same string as bytes, which only works for ASCII; OpenSSL feeds PBES2 the UTF-8 bytes.
    // Past a verified MAC, decrypt again with those, minus the MAC they would not match.
    const ascii = [...password].every((char) => char.charCodeAt(0) < 0x80);
    if (ascii || !/^(Failed|Unable) to decrypt/.test(messageOf(err))) throw err;
    const withoutMac = { ...pfx, value: (pfx.value as ForgeAsn1[]).slice(0, 2) };
    return forge.pkcs12.pkcs12FromAsn1(withoutMac, forge.util.encodeUtf8(password));
  }
}

function bagsOf(p12: Pkcs12, bagType: string): SafeBag[] {
  return p12.getBags({ bagType })[bagType] ?? [];
}

function privateKeyObject(
  der: Uint8Array,
  type: "pkcs1" | "pkcs8" | "sec1",
  path: string,
  failure: "KEY_FORMAT_UNSUPPORTED" | "KEY_PASSWORD_WRONG" = "KEY_FORMAT_UNSUPPORTED",
): KeyObject {
  try {
    return createPrivateKey({ key: Buffer.from(der), format: "der", type });
  } catch {
    throw failure === "KEY_PASSWORD_WRONG"
      ? new KeyLoadError(failure, path, `wrong key password for ${path}`)
      : unsupported(path, `${path} does not hold a readable private key`);
  }
}

/** The JWS algorithm for `key`; throws unless it is RSA-2048+ or EC on P-256 or P-384. */
function signingAlgorithm(key: KeyObject, path: string): SigningAlgorithm {
  const type = key.asymmetricKeyType;
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

function pemCertificates(bytes: Uint8Array, path: string): FoundCertificate[] {
  const invalid = (detail: string) =>
    new KeyLoadError("CERTIFICATE_INVALID", path, `${path} ${detail}`);
  const messages = decodePem(
    new TextDecoder().decode(bytes),
    () => invalid("is not well-formed PEM"),
  );
  const certificates = pemCertificateMessages(messages, path);
  if (certificates.length === 0) throw invalid("holds no PEM CERTIFICATE block");
  return certificates;
}

function pemCertificateMessages(messages: PemMessage[], path: string): FoundCertificate[] {
  return messages
    .filter((message) => message.type === "CERTIFICATE")
    .map((message, index) => ({ der: fromBinary(message.body), path, position: index + 1 }));
}

/**
 * Orders the certificates for `x5c`: the one whose public key is `spki` first, the rest in the
 * order found, duplicates dropped.
 */
function chainFor(
  spki: Uint8Array,
  found: readonly FoundCertificate[],
  { keyPath, certificatePath }: SigningKeySource,
): string[] {
  if (found.length === 0) return [];
  const parsed = found.map(({ der, path, position }) => {
    try {
      const certificate = new X509Certificate(Buffer.from(der));
      const publicKey = certificate.publicKey.export({ type: "spki", format: "der" });
      return { base64: Buffer.from(der).toString("base64"), publicKey };
    } catch {
      throw new KeyLoadError(
        "CERTIFICATE_INVALID",
        path,
        `certificate ${position} in ${path} is not a valid X.509 certificate`,
      );
    }
  });
  const leaf = parsed.find(({ publicKey }) => Buffer.compare(publicKey, spki) === 0);
  if (leaf === undefined) {
    const path = certificatePath ?? keyPath;
    throw new KeyLoadError(
      "CERTIFICATE_KEY_MISMATCH",
      path,
      `no certificate in ${path} matches the private key in ${keyPath}`,
    );
  }
  return [...new Set([leaf.base64, ...parsed.map(({ base64 }) => base64)])];
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
  return messageOf(err);
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

function unsupported(path: string, message: string): KeyLoadError {
  return new KeyLoadError("KEY_FORMAT_UNSUPPORTED", path, message);
}

function decodePem(text: string, malformed: () => KeyLoadError): PemMessage[] {
  try {
    return forge.pem.decode(text);
  } catch {
    throw malformed();
  }
}

function parseDer(binary: string, path: string): ForgeAsn1 {
  try {
    return forge.asn1.fromDer(binary);
  } catch {
    throw unsupported(path, `${path} holds malformed DER data`);
  }
}

function derOf(asn1: ForgeAsn1): Uint8Array {
  return fromBinary(forge.asn1.toDer(asn1).getBytes());
}

/** node-forge represents bytes as "binary" strings, one char per byte. */
function fromBinary(binary: string): Uint8Array {
  return Buffer.from(binary, "latin1");
}

function toBinary(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("latin1");
}
