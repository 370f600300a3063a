/**
 * Which client a request is accounted to: the peer, or, behind trusted proxies, the address the
 * nearest untrusted hop was seen at.
 *
 * `X-Forwarded-For` is read from the right: each trusted proxy appends the address it received
 * the request from, so the right-most entry that is not itself a trusted proxy is the client as
 * the outermost trusted proxy saw it. Entries further left were written by the client and are
 * never believed. A malformed entry stops the walk at the hop that forwarded it.
 *
 * @module
 */

import { canonicalAddress, normaliseAddress } from "../address.ts";

/** How much of the right end of `X-Forwarded-For` is read. */
const MAX_FORWARDED_FOR_LENGTH = 2048;

/** The client's address for `peer` and its `X-Forwarded-For` header. */
export function clientAddress(
  peer: string | undefined,
  forwardedFor: string | null | undefined,
  trustedProxies: ReadonlySet<string>,
): string {
  let client = peer === undefined ? "unknown" : normaliseAddress(peer);
  if (!forwardedFor) return client;
  // Only the right end matters, and a client may pad the left: read the last 2 KiB, without
  // the entry the cut went through.
  const entries = forwardedFor.length > MAX_FORWARDED_FOR_LENGTH
    ? forwardedFor.slice(-MAX_FORWARDED_FOR_LENGTH).split(",").slice(1)
    : forwardedFor.split(",");
  for (let index = entries.length - 1; index >= 0 && trustedProxies.has(client); index--) {
    const forwarded = forwardedAddress(entries[index].trim());
    if (forwarded === undefined) break;
    client = forwarded;
  }
  return client;
}

/**
 * One `X-Forwarded-For` entry as an address: `ip`, `ip:port`, `[ipv6]` or `[ipv6]:port` (the
 * port is dropped, so source ports never split a client's budget); `undefined` when malformed.
 */
function forwardedAddress(entry: string): string | undefined {
  const bracketed = /^\[([^\]]+)\](?::\d{1,5})?$/.exec(entry);
  if (bracketed) return bracketed[1].includes(":") ? canonicalAddress(bracketed[1]) : undefined;
  const withPort = /^([\d.]+):\d{1,5}$/.exec(entry);
  return canonicalAddress(withPort ? withPort[1] : entry);
}

/** The key a client's failures are counted under: IPv6 clients per /64, one host's usual share. */
export function budgetKey(address: string): string {
  if (!address.includes(":")) return address;
  const [head, tail = ""] = address.split("::");
  const left = head ? head.split(":") : [];
  const right = tail ? tail.split(":") : [];
  const groups = [
    ...left,
    ...Array(Math.max(0, 8 - left.length - right.length)).fill("0"),
    ...right,
  ];
  return `${groups.slice(0, 4).map((group) => group || "0").join(":")}::/64`;
}
