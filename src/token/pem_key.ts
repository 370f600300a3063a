/**
 * PEM key files: PKCS#8 (plain or encrypted), PKCS#1 and SEC 1, including OpenSSL's legacy
 * `Proc-Type: 4,ENCRYPTED` encryption, with any `CERTIFICATE` blocks that follow the key.
 *
 * @module
 */

import type { KeyObject } from "node:crypto";
import { pemCertificateMessages } from "./certificate_chain.ts";
import { type Cipher, forge, type PemMessage } from "./forge.ts";
import { KeyLoadError, unsupported } from "./key_errors.ts";
import {
  decodePem,
  decrypt,
  derOf,
  fromBinary,
  type KeyFile,
  type KeyFileSource,
  parseDer,
  privateKeyObject,
} from "./key_file.ts";

export function parsePemKeyFile(text: string, source: KeyFileSource): KeyFile {
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

function pemPrivateKey(message: PemMessage, { keyPath, keyPassword }: KeyFileSource): KeyObject {
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
