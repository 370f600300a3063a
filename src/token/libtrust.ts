/**
 * Docker libtrust key IDs, the `kid` format Docker Distribution expects in registry tokens.
 *
 * @module
 */

const BASE32_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

/**
 * The libtrust key ID of a public key: SHA-256 of its DER SubjectPublicKeyInfo, truncated to
 * 240 bits, base32-encoded (RFC 4648, no padding) and split into 12 colon-separated groups of 4,
 * e.g. `PYYO:TEWU:V7JH:26JV:AQTZ:LJC3:SXVJ:XGHA:34F2:2LAQ:ZRMK:Z7Q6`.
 *
 * @param spkiDer the DER-encoded SubjectPublicKeyInfo of the key
 */
export async function libtrustKeyId(spkiDer: Uint8Array): Promise<string> {
  // slice(): WebCrypto refuses views over a SharedArrayBuffer, which the type would allow.
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", spkiDer.slice()));
  // 240 bits is a multiple of both 8 and 5, so the encoding needs no padding.
  const encoded = base32(digest.subarray(0, 30));
  return encoded.match(/.{4}/g)!.join(":");
}

/** RFC 4648 base32 without padding, for inputs whose length is a multiple of 5 bytes. */
function base32(bytes: Uint8Array): string {
  let out = "";
  let buffer = 0;
  let bits = 0;
  for (const byte of bytes) {
    buffer = (buffer << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      bits -= 5;
      out += BASE32_ALPHABET[(buffer >>> bits) & 31];
    }
  }
  return out;
}
