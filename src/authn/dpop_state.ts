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
 * the newcomer ("full") rather than forget a proof that could then be replayed. No single proof
 * key (owner) may hold more than a tenth of it, so one caller cannot crowd out all the others.
 * It holds nothing but memory, so `close` has nothing to release.
 */
export function createReplayCache(capacity: number): ReplayCache {
  const entries = new Map<string, { owner: string; expiresAt: number }>();
  const perOwner = new Map<string, number>();
  const ownerShare = Math.max(1, Math.floor(capacity / 10));
  const forget = (key: string, owner: string) => {
    entries.delete(key);
    const count = (perOwner.get(owner) ?? 1) - 1;
    if (count > 0) perOwner.set(owner, count);
    else perOwner.delete(owner);
  };
  return {
    remember: (owner, { id, expiresAt }, now) =>
      Promise.resolve(remember(owner, id, expiresAt, now)),
    close: () => Promise.resolve(),
  };

  function remember(owner: string, id: string, expiresAt: number, now: number) {
    // Keyed by the proof alone (its key's thumbprint and jti): the owner only decides whose
    // share it counts against, so a proof stays used whoever it is charged to next time —
    // after a reload that names subjects differently, say.
    const key = id;
    const known = entries.get(key);
    if (known && known.expiresAt > now) return "replayed" as const;
    if (known) forget(key, known.owner);
    for (const [entry, { owner: entryOwner, expiresAt: expiry }] of entries) {
      if (expiry > now || entries.size < capacity && (perOwner.get(owner) ?? 0) < ownerShare) {
        break;
      }
      forget(entry, entryOwner);
    }
    if (entries.size >= capacity || (perOwner.get(owner) ?? 0) >= ownerShare) {
      return "full" as const;
    }
    entries.set(key, { owner, expiresAt });
    perOwner.set(owner, (perOwner.get(owner) ?? 0) + 1);
    return "fresh" as const;
  }
}

/**
 * Server nonces that change every `lifetimeSeconds`; the previous one is still accepted, so a
 * client that fetched a nonce just before the change is not turned away. They are held in
 * memory only, so `close` has nothing to release.
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
    current: (now) => Promise.resolve(nonceFor(epochOf(now))),
    accepts: (nonce, now) => {
      const epoch = epochOf(now);
      return Promise.resolve(nonce === nonceFor(epoch) || nonce === byEpoch.get(epoch - 1));
    },
    close: () => Promise.resolve(),
  };
}
