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
  /** Seconds until `address` may try again (its budget is spent); 0 when it may now. */
  retryAfter(address: string, now: number): number;
  /**
   * Takes one attempt from `address`'s budget before a signature check, so that concurrent
   * checks cannot all slip past a budget they are about to spend; or says how many seconds to
   * wait (> 0).
   */
  acquire(address: string, now: number): number;
  /** Gives an acquired attempt back: the check succeeded. */
  release(address: string, now: number): void;
  /** Counts a failure that did not go through `acquire` (e.g. a malformed credential). */
  recordFailure(address: string, now: number): void;
}

/** Budgets of `burst` attempts refilling at `perMinute`; at most `addresses` tracked at once. */
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
  const wait = (tokens: number) => tokens >= 1 ? 0 : Math.ceil((1 - tokens) / refillPerSecond);
  const take = (address: string, now: number) =>
    buckets.set(address, { tokens: Math.max(0, level(address, now) - 1), at: now });
  return {
    retryAfter: (address, now) => burst === 0 ? 0 : wait(level(address, now)),
    acquire(address, now) {
      if (burst === 0) return 0;
      const seconds = wait(level(address, now));
      if (seconds === 0) take(address, now);
      return seconds;
    },
    release(address, now) {
      if (burst === 0) return;
      buckets.set(address, { tokens: Math.min(burst, level(address, now) + 1), at: now });
    },
    recordFailure(address, now) {
      if (burst > 0) take(address, now);
    },
  };
}
