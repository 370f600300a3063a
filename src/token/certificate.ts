/**
 * Self-signed certificates for a signing key, for registries that can only trust a
 * certificate bundle (distribution 2.8 refuses a bundle without one). The signature is made
 * with the key's WebCrypto private key, so the key never has to be extractable.
 *
 * @module
 */

import forge from "node-forge";
import { pem } from "../encoding.ts";
import type { SigningKey } from "./keys.ts";

/** What the certificate says about itself. */
export interface CertificateProfile {
  readonly commonName: string;
  readonly notBefore: Date;
  readonly notAfter: Date;
  /** Positive serial number as hex (random in production, fixed in tests). */
  readonly serialHex: string;
}

/** Issues a self-signed certificate for `key`; returns it as base64 DER (an `x5c` entry). */
export async function selfSignedCertificate(
  key: SigningKey,
  profile: CertificateProfile,
): Promise<string> {
  const spki = new Uint8Array(await crypto.subtle.exportKey("spki", key.publicKey));
  const certificate = forge.pki.createCertificate();
  certificate.publicKey = forge.pki.publicKeyFromAsn1(forge.asn1.fromDer(binary(spki)));
  certificate.serialNumber = profile.serialHex;
  certificate.validity.notBefore = profile.notBefore;
  certificate.validity.notAfter = profile.notAfter;
  const name = [{ name: "commonName", value: profile.commonName }];
  certificate.setSubject(name);
  certificate.setIssuer(name);
  certificate.setExtensions([
    { name: "basicConstraints", cA: false },
    { name: "keyUsage", digitalSignature: true },
  ]);
  certificate.siginfo.algorithmOid = forge.pki.oids.sha256WithRSAEncryption;
  certificate.signatureOid = forge.pki.oids.sha256WithRSAEncryption;
  const tbs: string = forge.asn1.toDer(forge.pki.getTBSCertificate(certificate)).getBytes();
  const signature = await crypto.subtle.sign(
    "RSASSA-PKCS1-v1_5",
    key.privateKey,
    Uint8Array.from(tbs, (char) => char.charCodeAt(0)),
  );
  certificate.signature = binary(new Uint8Array(signature));
  return forge.util.encode64(forge.asn1.toDer(forge.pki.certificateToAsn1(certificate)).getBytes());
}

/** Wraps base64 DER certificates as PEM `CERTIFICATE` blocks. */
export function certificatesToPem(chain: readonly string[]): string {
  return chain.map((der) => pem("CERTIFICATE", der)).join("");
}

function binary(bytes: Uint8Array): string {
  let text = "";
  for (const byte of bytes) text += String.fromCharCode(byte);
  return text;
}
