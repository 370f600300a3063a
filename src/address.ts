/**
 * IP addresses as text: one canonical spelling per address, so that a configured trusted proxy,
 * a socket's peer and a forwarded entry compare equal however each was written.
 *
 * @module
 */

const IPV4 = /^(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(?:\.(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;
const IPV6_CHARACTERS = /^[0-9A-Fa-f:.]+$/;

/**
 * The canonical form of an IPv4 or IPv6 address (IPv6 compressed and in lower case, IPv4-mapped
 * IPv6 as plain IPv4), or `undefined` when `text` is not an IP address.
 */
export function canonicalAddress(text: string): string | undefined {
  if (IPV4.test(text)) return text;
  if (!text.includes(":") || !IPV6_CHARACTERS.test(text)) return undefined;
  // The URL parser is the platform's IPv6 parser; it also compresses and lower-cases.
  const host = URL.canParse(`http://[${text}]/`) ? new URL(`http://[${text}]/`).hostname : "";
  if (!host) return undefined;
  const address = host.slice(1, -1);
  const mapped = /^::ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/.exec(address);
  if (!mapped) return address;
  const [high, low] = [parseInt(mapped[1], 16), parseInt(mapped[2], 16)];
  return [high >> 8, high & 255, low >> 8, low & 255].join(".");
}

/**
 * An address as a socket reports it, canonical where it parses; kept as given otherwise, so
 * that an odd peer string still names its own bucket.
 */
export function normaliseAddress(address: string): string {
  return canonicalAddress(address) ?? address.toLowerCase();
}
