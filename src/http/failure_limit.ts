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
  /** Seconds until `address` may try again; 0 when it may now. */
  retryAfter(address: string, now: number): number;
  /** Counts one failed authentication from `address`. */
  recordFailure(address: string, now: number): void;
}

/** Buckets of `burst` failures refilling at `perMinute`; at most `addresses` tracked at once. */
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
    retryAfter(address, now) {
      if (burst === 0) return 0;
      const tokens = level(address, now);
      return tokens >= 1 ? 0 : Math.ceil((1 - tokens) / refillPerSecond);
    },
    recordFailure(address, now) {
      if (burst === 0) return;
      buckets.set(address, { tokens: Math.max(0, level(address, now) - 1), at: now });
    },
  };
}
