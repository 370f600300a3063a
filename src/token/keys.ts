/**
 * Loads the RSA key that signs registry tokens (RS256), with its certificate chain and key ID.
 *
 * Accepted key files: PEM (`PRIVATE KEY`, `RSA PRIVATE KEY`, `ENCRYPTED PRIVATE KEY`, and
 * `RSA PRIVATE KEY` with legacy `Proc-Type: 4,ENCRYPTED` headers), optionally followed by
 * `CERTIFICATE` blocks, and PKCS#12 (`.pfx`/`.p12`, recognised by content) in both the modern
 * AES/PBKDF2 and the legacy 3DES/RC2 flavours.
 *
 * @module
 */

import { Buffer } from "node:buffer";
import { createPrivateKey, createPublicKey, type KeyObject, X509Certificate } from "node:crypto";
import forgeModule from "node-forge";
import { calculateJwkThumbprint } from "jose";
import { libtrustKeyId } from "./libtrust.ts";

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

/** A loaded RS256 signing key. */
export interface SigningKey {
  /** JWS algorithm the key signs with. */
  readonly alg: "RS256";
  /** Key ID for the JWS header: the configured one, else the libtrust key ID. */
  readonly kid: string;
  /** RSASSA-PKCS1-v1_5 / SHA-256 private key, non-extractable, usage `sign`. */
  readonly privateKey: CryptoKey;
  /** Matching public key, usage `verify`. */
  readonly publicKey: CryptoKey;
  /** Public JWK, for a JWKS or `jwk` header; assignable to `JsonWebKey`. */
  readonly publicJwk: RsaPublicJwk;
  /** Base64 (not base64url) DER certificates for `x5c`, leaf first; empty if none were given. */
  readonly certificateChain: readonly string[];
}

/** The public half of a signing key as a JWK (RFC 7517), with nothing else in it. */
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
}

/** Why a signing key could not be loaded. */
export type KeyLoadErrorCode =
  | "KEY_UNREADABLE"
  | "KEY_PASSWORD_REQUIRED"
  | "KEY_PASSWORD_WRONG"
  | "KEY_NOT_RSA"
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

const RS256: RsaHashedImportParams = { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" };
const MIN_MODULUS_BITS = 2048;

/**
 * Loads and checks the signing key described by `source`.
 *
 * @param source configured key, password, certificate file and key ID
 * @param readFile reads a whole file; injected so tests can supply bytes
 * @throws {KeyLoadError} when a file is unreadable, malformed, locked, not RSA-2048+ or
 *   its certificates do not belong to the key
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

  const key = requireRsa2048(keyFile.key, source.keyPath);
  const spki = new Uint8Array(createPublicKey(key).export({ type: "spki", format: "der" }));
  const certificateChain = Object.freeze(chainFor(spki, certificates, source));
  const pkcs8 = new Uint8Array(key.export({ type: "pkcs8", format: "der" }));

  const privateKey = await crypto.subtle.importKey("pkcs8", pkcs8, RS256, false, ["sign"]);
  const publicKey = await crypto.subtle.importKey("spki", spki, RS256, true, ["verify"]);
  const { n, e } = await crypto.subtle.exportKey("jwk", publicKey);
  const kid = source.keyId ??
    (source.keyIdFormat === "thumbprint"
      ? await calculateJwkThumbprint({ kty: "RSA", n, e })
      : await libtrustKeyId(spki));
  const publicJwk: RsaPublicJwk = Object.freeze({
    kty: "RSA",
    n: n!,
    e: e!,
    kid,
    alg: "RS256",
    use: "sig",
  });
  return Object.freeze({ alg: "RS256", kid, privateKey, publicKey, publicJwk, certificateChain });
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

function pemPrivateKey(message: PemMessage, { keyPath, keyPassword }: SigningKeySource): KeyObject {
  if (message.type === "EC PRIVATE KEY") throw notRsa(keyPath, "EC");
  const body = fromBinary(message.body);
  if (message.type === "PRIVATE KEY") return privateKeyObject(body, "pkcs8", keyPath);
  const legacyEncrypted = message.procType?.type === "ENCRYPTED";
  if (message.type === "RSA PRIVATE KEY" && !legacyEncrypted) {
    return privateKeyObject(body, "pkcs1", keyPath);
  }
  if (message.type !== "RSA PRIVATE KEY" && message.type !== "ENCRYPTED PRIVATE KEY") {
    throw unsupported(
      keyPath,
      `${keyPath} holds an unsupported "${message.type}"; use PKCS#8, PKCS#1 or PKCS#12`,
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
    const pem = forge.pem.encode(message);
    const rsa = decrypt(keyPath, () => forge.pki.decryptRsaPrivateKey(pem, password));
    return privateKeyObject(derOf(forge.pki.privateKeyToAsn1(rsa)), "pkcs1", keyPath);
  }
  const encrypted = parseDer(message.body, keyPath);
  const info = decrypt(keyPath, () => forge.pki.decryptPrivateKeyInfo(encrypted, password));
  // A wrong password occasionally decrypts to well-padded garbage that only fails here.
  return privateKeyObject(derOf(info), "pkcs8", keyPath, "KEY_PASSWORD_WRONG");
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
  // node-forge decodes RSA keys into objects and leaves other key types as raw ASN.1.
  const [{ key, asn1 }] = keyBags;
  const keyObject = key
    ? privateKeyObject(derOf(forge.pki.privateKeyToAsn1(key)), "pkcs1", keyPath)
    : privateKeyObject(derOf(asn1!), "pkcs8", keyPath);

  const certificates = bagsOf(p12, forge.pki.oids.certBag).map((bag, index) => ({
    // node-forge turns the certificates it can model into objects, so those are re-encoded;
    // the tests check the result against the original PEM bytes.
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
  type: "pkcs1" | "pkcs8",
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

function requireRsa2048(key: KeyObject, path: string): KeyObject {
  if (key.asymmetricKeyType !== "rsa") {
    throw notRsa(path, (key.asymmetricKeyType ?? "unknown").toUpperCase());
  }
  const bits = key.asymmetricKeyDetails?.modulusLength ?? 0;
  if (bits < MIN_MODULUS_BITS) {
    throw new KeyLoadError(
      "KEY_TOO_SMALL",
      path,
      `${path} holds a ${bits}-bit RSA key; at least ${MIN_MODULUS_BITS} bits are required`,
    );
  }
  return key;
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

function notRsa(path: string, type: string): KeyLoadError {
  return new KeyLoadError(
    "KEY_NOT_RSA",
    path,
    `${path} holds a key of type ${type}; RS256 tokens need an RSA key`,
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

// node-forge ships no types; these describe only the parts used above.
interface ForgeAsn1 {
  readonly value: string | ForgeAsn1[];
}
type ForgeRsaPrivateKey = { readonly __brand: "forge.rsa" };
type ForgeCertificate = { readonly __brand: "forge.certificate" };
interface PemMessage {
  readonly type: string;
  readonly procType: { readonly type: string } | null;
  readonly body: string;
}
interface SafeBag {
  readonly key?: ForgeRsaPrivateKey | null;
  readonly cert?: ForgeCertificate | null;
  readonly asn1?: ForgeAsn1;
}
interface Pkcs12 {
  getBags(filter: { bagType: string }): Record<string, SafeBag[] | undefined>;
}
interface Forge {
  asn1: {
    fromDer(bytes: string): ForgeAsn1;
    toDer(asn1: ForgeAsn1): { getBytes(): string };
  };
  pem: {
    decode(text: string): PemMessage[];
    encode(message: PemMessage): string;
  };
  pki: {
    oids: Record<"pkcs8ShroudedKeyBag" | "keyBag" | "certBag", string>;
    decryptPrivateKeyInfo(info: ForgeAsn1, password: string): ForgeAsn1 | null;
    decryptRsaPrivateKey(pem: string, password: string): ForgeRsaPrivateKey | null;
    privateKeyToAsn1(key: ForgeRsaPrivateKey): ForgeAsn1;
    certificateToAsn1(certificate: ForgeCertificate): ForgeAsn1;
  };
  pkcs12: { pkcs12FromAsn1(pfx: ForgeAsn1, password: string): Pkcs12 };
  util: { encodeUtf8(text: string): string };
}
const forge: Forge = forgeModule;
