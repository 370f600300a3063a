/**
 * The one way into node-forge, typed: it ships no types, so these describe exactly the parts
 * this service uses (PEM and PKCS#8/PKCS#12 decoding, legacy OpenSSL PEM ciphers, and the
 * ASN.1 and name/extension encoders the self-signed certificates need). Anything else of
 * node-forge does not type-check, so it cannot creep in unreviewed.
 *
 * @module
 */

import forgeModule from "node-forge";

/** node-forge's byte buffer, as far as it is read here. */
export interface ByteBuffer {
  getBytes(): string;
}

/** A certificate node-forge builds only to encode its subject name and extensions. */
export interface CertificateTemplate {
  setSubject(attributes: readonly { name: string; value: string }[]): void;
  setExtensions(extensions: readonly Record<string, unknown>[]): void;
  readonly subject: unknown;
  readonly extensions: unknown;
}

export interface ForgeAsn1 {
  readonly value: string | ForgeAsn1[];
}
type ForgeRsaPrivateKey = { readonly __brand: "forge.rsa" };
type ForgeCertificate = { readonly __brand: "forge.certificate" };
export interface PemMessage {
  readonly type: string;
  readonly procType: { readonly type: string } | null;
  readonly dekInfo: { readonly algorithm: string; readonly parameters: string } | null;
  readonly body: string;
}
export interface Cipher {
  start(iv: string): void;
  update(data: unknown): void;
  finish(): boolean;
  readonly output: { getBytes(): string };
}
export interface SafeBag {
  readonly key?: ForgeRsaPrivateKey | null;
  readonly cert?: ForgeCertificate | null;
  readonly asn1?: ForgeAsn1;
}
export interface Pkcs12 {
  getBags(filter: { bagType: string }): Record<string, SafeBag[] | undefined>;
}
interface Forge {
  asn1: {
    fromDer(bytes: string): ForgeAsn1;
    toDer(asn1: ForgeAsn1): ByteBuffer;
    create(
      tagClass: number,
      type: number,
      constructed: boolean,
      value: string | unknown[],
    ): ForgeAsn1;
    readonly Class: Readonly<Record<"UNIVERSAL" | "CONTEXT_SPECIFIC", number>>;
    readonly Type: Readonly<
      Record<
        "BITSTRING" | "GENERALIZEDTIME" | "INTEGER" | "NULL" | "OID" | "SEQUENCE" | "UTCTIME",
        number
      >
    >;
    integerToDer(value: number): ByteBuffer;
    oidToDer(oid: string): ByteBuffer;
    dateToUtcTime(date: Date): string;
    dateToGeneralizedTime(date: Date): string;
  };
  pem: {
    decode(text: string): PemMessage[];
  };
  pki: {
    oids: Record<"pkcs8ShroudedKeyBag" | "keyBag" | "certBag", string>;
    decryptPrivateKeyInfo(info: ForgeAsn1, password: string): ForgeAsn1 | null;
    privateKeyToAsn1(key: ForgeRsaPrivateKey): ForgeAsn1;
    certificateToAsn1(certificate: ForgeCertificate): ForgeAsn1;
    createCertificate(): CertificateTemplate;
    distinguishedNameToAsn1(name: unknown): ForgeAsn1;
    certificateExtensionsToAsn1(extensions: unknown): ForgeAsn1;
  };
  pkcs12: { pkcs12FromAsn1(pfx: ForgeAsn1, password: string): Pkcs12 };
  pbe: { opensslDeriveBytes(password: string, salt: string, length: number): string };
  des: { createDecryptionCipher(key: string): Cipher };
  aes: { createDecryptionCipher(key: string): Cipher };
  rc2: { createDecryptionCipher(key: string, bits: number): Cipher };
  util: {
    encodeUtf8(text: string): string;
    hexToBytes(hex: string): string;
    createBuffer(bytes: string): unknown;
    encode64(bytes: string): string;
  };
}

/** node-forge, through the types above. */
export const forge: Forge = forgeModule;
