/**
 * The registry's side of the handshake, as a client reads it: the `WWW-Authenticate: Bearer`
 * challenge of `/v2/` (RFC 6750 §3, the parameters distribution sends) and its `Date`.
 *
 * @module
 */

/** The parameters of a Bearer challenge; `realm` is always there. */
export interface BearerChallenge {
  readonly realm: string;
  readonly service?: string;
  readonly scope?: string;
  /** `invalid_token`, `insufficient_scope`, … when the registry refused a token. */
  readonly error?: string;
}

/** One `name="value"` or `name=token` parameter, as RFC 9110 §11.2 writes them. */
const PARAMETER = /\s*([A-Za-z0-9_-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,"]+))\s*(?:,|$)/y;

/**
 * Reads the Bearer challenge of a `WWW-Authenticate` value, or undefined when it has none (no
 * header, another scheme, or no `realm`). Only the first challenge is read: distribution sends
 * one.
 */
export function parseBearerChallenge(header: string | null): BearerChallenge | undefined {
  const match = header?.match(/^\s*Bearer\s+/i);
  if (!header || !match) return undefined;
  const parameters = new Map<string, string>();
  PARAMETER.lastIndex = match[0].length;
  for (let found = PARAMETER.exec(header); found; found = PARAMETER.exec(header)) {
    parameters.set(found[1].toLowerCase(), found[2]?.replace(/\\(.)/g, "$1") ?? found[3]);
    if (PARAMETER.lastIndex >= header.length) break;
  }
  const realm = parameters.get("realm");
  if (!realm) return undefined;
  return {
    realm,
    service: parameters.get("service"),
    scope: parameters.get("scope"),
    error: parameters.get("error"),
  };
}

/**
 * How far the registry's clock is ahead of ours (seconds; negative: behind), from its `Date`
 * header and the local time the answer came; undefined without a readable `Date`. A `Date` has
 * whole seconds, so differences under a second or two mean nothing.
 */
export function clockSkewSeconds(date: string | null, localNow: Date): number | undefined {
  if (!date) return undefined;
  const registryTime = Date.parse(date);
  if (Number.isNaN(registryTime)) return undefined;
  return Math.round((registryTime - localNow.getTime()) / 1000);
}
