/**
 * Self-signed certificates for a signing key, for registries that can only trust a
 * certificate bundle (distribution 2.8 refuses a bundle without one). The signature is made
 * with the key's WebCrypto private key, so the key never has to be extractable.
 *
 * @module
 */

import { forge } from "./forge.ts";
import { encodeHex, pem } from "../encoding.ts";
import { signatureParams, type SigningAlgorithm, type SigningKey } from "./keys.ts";

/** What the certificate says about itself. */
export interface CertificateProfile {
  readonly commonName: string;
  readonly notBefore: Date;
  readonly notAfter: Date;
  /** Positive serial number as hex (random in production, fixed in tests). */
  readonly serialHex: string;
}

/** Validity from a minute before `now` (a registry's clock may lag) until `days` after it. */
export function validityFrom(
  now: Date,
  days: number,
): Pick<CertificateProfile, "notBefore" | "notAfter"> {
  return {
    notBefore: new Date(now.getTime() - 60_000),
    notAfter: new Date(now.getTime() + days * 86_400_000),
  };
}

/** A random positive 128-bit serial number, as hex. */
export function randomSerialHex(): string {
  return `01${encodeHex(crypto.getRandomValues(new Uint8Array(15)))}`;
}

/**
 * X.509 signature algorithm of each JWS algorithm: sha256WithRSAEncryption takes NULL
 * parameters (RFC 4055), ecdsa-with-SHA256/384 (RFC 5758) and id-Ed25519 (RFC 8410) none at all.
 */
const SIGNATURE_ALGORITHMS: Record<SigningAlgorithm, { oid: string; nullParameters: boolean }> = {
  RS256: { oid: "1.2.840.113549.1.1.11", nullParameters: true },
  ES256: { oid: "1.2.840.10045.4.3.2", nullParameters: false },
  ES384: { oid: "1.2.840.10045.4.3.3", nullParameters: false },
  EdDSA: { oid: "1.3.101.112", nullParameters: false },
};

/** Issues a self-signed certificate for `key`; returns it as base64 DER (an `x5c` entry). */
export async function selfSignedCertificate(
  key: SigningKey,
  profile: CertificateProfile,
): Promise<string> {
  const { asn1 } = forge;
  const spki = new Uint8Array(await crypto.subtle.exportKey("spki", key.publicKey));
  // node-forge models only RSA public keys, so the TBSCertificate is assembled here around the
  // key's own SubjectPublicKeyInfo; a node-forge certificate encodes the name and extensions.
  const template = forge.pki.createCertificate();
  const name = [{ name: "commonName", value: profile.commonName }];
  template.setSubject(name);
  template.setExtensions([
    { name: "basicConstraints", cA: false },
    { name: "keyUsage", digitalSignature: true },
  ]);
  const subject = forge.pki.distinguishedNameToAsn1(template.subject);
  const algorithm = algorithmIdentifier(key.alg);
  const tbs = sequence([
    asn1.create(asn1.Class.CONTEXT_SPECIFIC, 0, true, [integer(asn1.integerToDer(2).getBytes())]),
    integer(forge.util.hexToBytes(profile.serialHex)),
    algorithm,
    subject,
    sequence([time(profile.notBefore), time(profile.notAfter)]),
    subject,
    asn1.fromDer(binary(spki)),
    forge.pki.certificateExtensionsToAsn1(template.extensions),
  ]);
  const tbsDer: string = asn1.toDer(tbs).getBytes();
  const signature = new Uint8Array(
    await crypto.subtle.sign(
      signatureParams(key.alg),
      key.privateKey,
      Uint8Array.from(tbsDer, (char) => char.charCodeAt(0)),
    ),
  );
  // X.509 carries an ECDSA signature as DER SEQUENCE { r, s }, not WebCrypto's raw r || s; RSA
  // and Ed25519 signatures go in as they are (RFC 8410 §6).
  const ecdsa = key.alg === "ES256" || key.alg === "ES384";
  const signatureValue = ecdsa ? ecdsaSignatureDer(signature) : binary(signature);
  const certificate = sequence([
    tbs,
    algorithm,
    asn1.create(asn1.Class.UNIVERSAL, asn1.Type.BITSTRING, false, `\0${signatureValue}`),
  ]);
  return forge.util.encode64(asn1.toDer(certificate).getBytes());
}

/** Wraps base64 DER certificates as PEM `CERTIFICATE` blocks. */
export function certificatesToPem(chain: readonly string[]): string {
  return chain.map((der) => pem("CERTIFICATE", der)).join("");
}

function algorithmIdentifier(alg: SigningAlgorithm) {
  const { asn1 } = forge;
  const { oid, nullParameters } = SIGNATURE_ALGORITHMS[alg];
  return sequence([
    asn1.create(asn1.Class.UNIVERSAL, asn1.Type.OID, false, asn1.oidToDer(oid).getBytes()),
    ...(nullParameters ? [asn1.create(asn1.Class.UNIVERSAL, asn1.Type.NULL, false, "")] : []),
  ]);
}

/** DER `Ecdsa-Sig-Value` (RFC 3279) of a WebCrypto ECDSA signature: r and s, each half of it. */
function ecdsaSignatureDer(raw: Uint8Array): string {
  const half = raw.length / 2;
  const component = (bytes: Uint8Array) => {
    let start = 0;
    while (start < bytes.length - 1 && bytes[start] === 0) start++;
    const minimal = binary(bytes.subarray(start));
    // A set high bit would make the INTEGER negative.
    return integer(bytes[start] & 0x80 ? `\0${minimal}` : minimal);
  };
  const value = sequence([component(raw.subarray(0, half)), component(raw.subarray(half))]);
  return forge.asn1.toDer(value).getBytes();
}

function sequence(items: unknown[]) {
  return forge.asn1.create(forge.asn1.Class.UNIVERSAL, forge.asn1.Type.SEQUENCE, true, items);
}

function integer(bytes: string) {
  return forge.asn1.create(forge.asn1.Class.UNIVERSAL, forge.asn1.Type.INTEGER, false, bytes);
}

/** UTCTime through 2049, GeneralizedTime from 2050 (RFC 5280 §4.1.2.5). */
function time(date: Date) {
  const { asn1 } = forge;
  return date.getUTCFullYear() < 2050
    ? asn1.create(asn1.Class.UNIVERSAL, asn1.Type.UTCTIME, false, asn1.dateToUtcTime(date))
    : asn1.create(
      asn1.Class.UNIVERSAL,
      asn1.Type.GENERALIZEDTIME,
      false,
      asn1.dateToGeneralizedTime(date),
    );
}

function binary(bytes: Uint8Array): string {
  let text = "";
  for (const byte of bytes) text += String.fromCharCode(byte);
  return text;
}
