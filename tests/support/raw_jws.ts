/**
 * Hand-made JWS text for the security tests: base64url and ES256 signatures over any header and
 * payload *text* (duplicate keys, unknown `crit`, non-JSON…), which jose's `SignJWT` refuses to
 * produce.
 *
 * @module
 */

const encoder = new TextEncoder();

/** base64url without padding of UTF-8 text or bytes. */
export function b64url(input: string | Uint8Array): string {
  const bytes = typeof input === "string" ? encoder.encode(input) : input;
  let binary = "";
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return btoa(binary).replaceAll("+", "-").replaceAll("/", "_").replace(/=+$/, "");
}

/** Decodes one base64url segment to text (lenient; for test-side inspection only). */
export function unb64url(segment: string): string {
  const base64 = segment.replaceAll("-", "+").replaceAll("_", "/");
  const binary = atob(base64 + "=".repeat((4 - base64.length % 4) % 4));
  return new TextDecoder().decode(Uint8Array.from(binary, (c) => c.charCodeAt(0)));
}

/** Signs `headerText.payloadText` (each base64url-encoded) with an ES256 private key. */
export async function signEs256Raw(
  privateKey: CryptoKey,
  headerText: string,
  payloadText: string,
): Promise<string> {
  const input = `${b64url(headerText)}.${b64url(payloadText)}`;
  const signature = await crypto.subtle.sign(
    { name: "ECDSA", hash: "SHA-256" },
    privateKey,
    encoder.encode(input),
  );
  return `${input}.${b64url(new Uint8Array(signature))}`;
}
