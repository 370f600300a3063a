/**
 * The state DPoP needs across requests: a bounded replay cache of proof identifiers and
 * rotating server nonces. Time comes in as an argument, so tests control it.
 *
 * @module
 */

import type { NonceSource, ReplayCache } from "./dpop.ts";

/**
 * A replay cache holding at most `capacity` entries. Entries arrive roughly in expiry order, so
 * expired ones are swept from the oldest end; when the cache is full of live entries it refuses
 * the newcomer ("full") rather than forget a proof that could then be replayed.
 */
export function createReplayCache(capacity: number): ReplayCache {
  const expiries = new Map<string, number>();
  return {
    remember(key, expiresAt, now) {
      const known = expiries.get(key);
      if (known !== undefined && known > now) return "replayed";
      if (expiries.size >= capacity) {
        for (const [entry, expiry] of expiries) {
          if (expiry > now) break;
          expiries.delete(entry);
        }
      }
      if (expiries.size >= capacity) return "full";
      expiries.delete(key);
      expiries.set(key, expiresAt);
      return "fresh";
    },
  };
}

/**
 * Server nonces that change every `lifetimeSeconds`; the previous one is still accepted, so a
 * client that fetched a nonce just before the change is not turned away.
 */
export function createNonceSource(
  lifetimeSeconds: number,
  randomNonce: () => string,
): NonceSource {
  const byEpoch = new Map<number, string>();
  const nonceFor = (epoch: number) => {
    let nonce = byEpoch.get(epoch);
    if (nonce === undefined) {
      nonce = randomNonce();
      byEpoch.set(epoch, nonce);
      for (const old of byEpoch.keys()) if (old < epoch - 1) byEpoch.delete(old);
    }
    return nonce;
  };
  const epochOf = (now: number) => Math.floor(now / lifetimeSeconds);
  return {
    current: (now) => nonceFor(epochOf(now)),
    accepts: (nonce, now) => {
      const epoch = epochOf(now);
      return nonce === nonceFor(epoch) || nonce === byEpoch.get(epoch - 1);
    },
  };
}
