/**
 * What the transport knows about a request's connection, and the client certificate it
 * carries: from the service's own TLS handshake, or forwarded by a trusted reverse proxy.
 *
 * @module
 */

import type { ServerOptions } from "./server_options.ts";
import { normaliseAddress } from "../address.ts";
import { Denial } from "../denial.ts";
import { decodeBase64 } from "../encoding.ts";

/** Facts about the connection a request arrived on, supplied by the server adapter. */
export interface ConnectionInfo {
  /** Peer address (IPv4-mapped IPv6 addresses in their IPv4 form). */
  readonly remoteAddress?: string;
  /** DER of a client certificate presented (and, with a client CA, verified) in TLS. */
  readonly clientCertificate?: Uint8Array;
}

/** Longest forwarded certificate header accepted. */
const MAX_FORWARDED_CERTIFICATE = 16 * 1024;

/**
 * The client certificate of a request: the TLS one, else one forwarded in
 * `Server:ClientCertificateHeader` by a `Server:TrustedProxies` address. A forwarded certificate
 * from any other address is refused outright: it can only be an attempt to impersonate.
 */
export function clientCertificateOf(
  headers: Headers,
  connection: ConnectionInfo,
  server: ServerOptions,
): Uint8Array | undefined {
  if (connection.clientCertificate) return connection.clientCertificate;
  const name = server.clientCertificateHeader;
  const forwarded = name ? headers.get(name) : null;
  if (!forwarded) return undefined;
  const address = connection.remoteAddress && normaliseAddress(connection.remoteAddress);
  if (!address || !server.trustedProxies.has(address)) {
    throw new Denial(
      "mtls_proxy_untrusted",
      "a forwarded client certificate is accepted only from a trusted proxy",
    );
  }
  return parseForwardedCertificate(forwarded);
}

/**
 * Reads a forwarded certificate: URL-encoded PEM (nginx `$ssl_client_escaped_cert`), PEM, or
 * bare base64 DER.
 */
export function parseForwardedCertificate(value: string): Uint8Array {
  const unreadable = () =>
    new Denial("mtls_certificate_missing", "the forwarded client certificate is not readable");
  // Several values (a repeated header is joined with ", ") mean someone else's certificate may
  // ride along with the proxy's: refuse rather than pick one.
  if (value.length > MAX_FORWARDED_CERTIFICATE || value.includes(",")) throw unreadable();
  let text = value;
  try {
    if (text.includes("%")) text = decodeURIComponent(text);
  } catch {
    throw unreadable();
  }
  if ((text.match(/-----BEGIN CERTIFICATE-----/g) ?? []).length > 1) throw unreadable();
  const pem = /-----BEGIN CERTIFICATE-----([^-]+)-----END CERTIFICATE-----/.exec(text);
  const base64 = (pem ? pem[1] : text).replace(/\s+/g, "");
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(base64)) throw unreadable();
  try {
    return decodeBase64(base64);
  } catch {
    // A length that is 1 mod 4 is not base64, however its letters look.
    throw unreadable();
  }
}
