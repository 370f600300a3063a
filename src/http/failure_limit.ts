/**
 * Limits failed authentications per client address, so the token endpoint cannot be used to
 * guess credentials or to burn CPU on signature checks: a token bucket per address that each
 * 401 drains; an empty bucket answers 429 before any signature is checked.
 *
 * @module
 */

import { createLruCache } from "../lru.ts";

/** Failed-authentication accounting by client address; times in seconds. */
export interface FailureLimiter {
  /**
   * Takes one attempt from `address`'s bucket before the attempt is checked — so concurrent
   * requests cannot all slip past an empty bucket — or says how many seconds to wait (> 0).
   */
  acquire(address: string, now: number): number;
  /** Gives the attempt back: it did not fail authentication. */
  release(address: string, now: number): void;
}

/** Buckets of `burst` attempts refilling at `perMinute`; at most `addresses` tracked at once. */
export function createFailureLimiter(
  burst: number,
  perMinute: number,
  addresses = 10_000,
): FailureLimiter {
  const buckets = createLruCache<string, { tokens: number; at: number }>(burst > 0 ? addresses : 0);
  const refillPerSecond = perMinute / 60;
  const level = (address: string, now: number) => {
    const bucket = buckets.get(address);
    if (!bucket) return burst;
    return Math.min(burst, bucket.tokens + (now - bucket.at) * refillPerSecond);
  };
  return {
    acquire(address, now) {
      if (burst === 0) return 0;
      const tokens = level(address, now);
      if (tokens < 1) return Math.ceil((1 - tokens) / refillPerSecond);
      buckets.set(address, { tokens: tokens - 1, at: now });
      return 0;
    },
    release(address, now) {
      if (burst === 0) return;
      buckets.set(address, { tokens: Math.min(burst, level(address, now) + 1), at: now });
    },
  };
}
