/**
 * PFX / PKCS#12 key files, modern (AES, PBKDF2) and legacy (3DES/RC2), with the
 * certificates they carry; a password-less MAC quirk of some exporters is handled.
 *
 * @module
 */

import { forge, type ForgeAsn1, type Pkcs12, type SafeBag } from "./forge.ts";
import { errorMessage } from "../error_message.ts";
import { KeyLoadError, unsupported } from "./key_errors.ts";
import {
  derOf,
  type KeyFile,
  type KeyFileSource,
  parseDer,
  privateKeyObject,
  toBinary,
} from "./key_file.ts";

export function parsePkcs12(bytes: Uint8Array, { keyPath, keyPassword }: KeyFileSource): KeyFile {
  const pfx = parseDer(toBinary(bytes), keyPath);
  let p12: Pkcs12;
  try {
    // PKCS#12 files may legitimately use an empty password.
    p12 = decodePkcs12(pfx, keyPassword ?? "");
  } catch (err) {
    const reason = errorMessage(err);
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
    if (ascii || !/^(Failed|Unable) to decrypt/.test(errorMessage(err))) throw err;
    const withoutMac = { ...pfx, value: (pfx.value as ForgeAsn1[]).slice(0, 2) };
    return forge.pkcs12.pkcs12FromAsn1(withoutMac, forge.util.encodeUtf8(password));
  }
}

function bagsOf(p12: Pkcs12, bagType: string): SafeBag[] {
  return p12.getBags({ bagType })[bagType] ?? [];
}
