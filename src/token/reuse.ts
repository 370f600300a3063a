/**
 * Reuse of minted registry tokens: an identical request (same subject, service, audience,
 * granted access and licence) within the reuse window gets the token already minted instead of
 * a new signature. Authorization runs before every lookup, so a revoked licence or a narrower
 * plan takes effect at once; a reload starts an empty cache; the token's expiry never moves.
 *
 * @module
 */

import type { AccessEntry } from "../authz/plan.ts";
import { createLruCache } from "../lru.ts";

/**
 * How many minted tokens are kept: tokens with `x5c` are a few KiB each, and a CI fleet has far
 * fewer distinct (caller, access) pairs within one reuse window than this.
 */
export const MINTED_TOKEN_CACHE_SIZE = 2_000;

/** A token that was minted, with its issue and expiry times in seconds. */
export interface MintedToken {
  readonly token: string;
  /** The token's `jti`, for the audit record (a reused token is never decoded to find it). */
  readonly jti: string;
  readonly issuedAt: number;
  readonly expiresAt: number;
}

/** What makes two requests identical for reuse. */
export interface ReuseKey {
  readonly subject: string;
  readonly service: string;
  readonly audience: string;
  readonly access: readonly AccessEntry[];
  readonly license?: string;
}

/** Minted tokens by request. */
export interface MintedTokenCache {
  /** The token minted for an identical request at most `windowSeconds` ago, if any. */
  reuse(key: ReuseKey, now: number): MintedToken | undefined;
  remember(key: ReuseKey, minted: MintedToken): void;
}

/** A cache of at most `capacity` minted tokens, reused up to `windowSeconds` after minting. */
export function createMintedTokenCache(capacity: number, windowSeconds: number): MintedTokenCache {
  const minted = createLruCache<string, MintedToken>(windowSeconds > 0 ? capacity : 0);
  const keyOf = (key: ReuseKey) =>
    JSON.stringify([key.subject, key.service, key.audience, key.access, key.license ?? null]);
  return {
    reuse(key, now) {
      const found = minted.get(keyOf(key));
      return found && now - found.issuedAt <= windowSeconds && now < found.expiresAt
        ? found
        : undefined;
    },
    remember(key, token) {
      minted.set(keyOf(key), token);
    },
  };
}
