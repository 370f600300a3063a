/**
 * Certificates for a signing key: read from PEM, and ordered for `x5c` with the key's own
 * certificate first; a chain that does not hold the key's certificate is refused.
 *
 * @module
 */

import { Buffer } from "node:buffer";
import { X509Certificate } from "node:crypto";
import type { PemMessage } from "./forge.ts";
import { KeyLoadError } from "./key_errors.ts";
import { decodePem, type FoundCertificate, fromBinary, type KeyFileSource } from "./key_file.ts";

export function pemCertificates(bytes: Uint8Array, path: string): FoundCertificate[] {
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

export function pemCertificateMessages(messages: PemMessage[], path: string): FoundCertificate[] {
  return messages
    .filter((message) => message.type === "CERTIFICATE")
    .map((message, index) => ({ der: fromBinary(message.body), path, position: index + 1 }));
}

/**
 * Orders the certificates for `x5c`: the one whose public key is `spki` first, the rest in the
 * order found, duplicates dropped.
 */
export function chainFor(
  spki: Uint8Array,
  found: readonly FoundCertificate[],
  { keyPath, certificatePath }: KeyFileSource,
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
