/**
 * Base64url encoding (RFC 4648 §5, no padding), for JWS segments and random identifiers.
 *
 * @module
 */

/** Encodes text (as UTF-8) or bytes as unpadded base64url. */
export function encodeBase64Url(data: string | Uint8Array): string {
  const bytes = typeof data === "string" ? new TextEncoder().encode(data) : data;
  let binary = "";
  for (let offset = 0; offset < bytes.length; offset += 0x8000) {
    binary += String.fromCharCode(...bytes.subarray(offset, offset + 0x8000));
  }
  return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}
