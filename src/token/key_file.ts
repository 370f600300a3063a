/**
 * What every key-file format shares: what a file yields (a key and the certificates found
 * beside it), the private-key import, password-protected decryption, and DER/PEM plumbing.
 *
 * @module
 */

import { Buffer } from "node:buffer";
import { createPrivateKey, type KeyObject } from "node:crypto";
import { forge, type ForgeAsn1, type PemMessage } from "./forge.ts";
import { errorMessage } from "../error_message.ts";
import { KeyLoadError, unsupported } from "./key_errors.ts";

/** The parts of a configured key the file readers need. */
export interface KeyFileSource {
  readonly keyPath: string;
  readonly keyPassword?: string;
  readonly certificatePath?: string;
}

/** A certificate as found, before it is parsed. */
export interface FoundCertificate {
  readonly der: Uint8Array;
  /** The file it came from. */
  readonly path: string;
  /** Its 1-based position among the certificates of that file. */
  readonly position: number;
}

/** What a key file yields. */
export interface KeyFile {
  readonly key: KeyObject;
  readonly certificates: readonly FoundCertificate[];
}

export function privateKeyObject(
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

/** Runs a node-forge decryption, telling an unsupported scheme from a wrong password. */
export function decrypt<T>(path: string, attempt: () => T | null): T {
  let result: T | null;
  try {
    result = attempt();
  } catch (err) {
    // node-forge names unknown ciphers, KDFs and PRFs "unsupported"; any other throw comes
    // from parsing what a wrong password decrypted to.
    const reason = errorMessage(err);
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

export function decodePem(text: string, malformed: () => KeyLoadError): PemMessage[] {
  try {
    return forge.pem.decode(text);
  } catch {
    throw malformed();
  }
}

export function parseDer(binary: string, path: string): ForgeAsn1 {
  try {
    return forge.asn1.fromDer(binary);
  } catch {
    throw unsupported(path, `${path} holds malformed DER data`);
  }
}

export function derOf(asn1: ForgeAsn1): Uint8Array {
  return fromBinary(forge.asn1.toDer(asn1).getBytes());
}

/** node-forge represents bytes as "binary" strings, one char per byte. */
export function fromBinary(binary: string): Uint8Array {
  return Buffer.from(binary, "latin1");
}

export function toBinary(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("latin1");
}
