/**
 * Remembers Authority tokens that passed verification, keyed by their SHA-256, until they
 * expire: a caller presenting the same token again skips the signature check, the most
 * expensive step after signing. Only tokens that verified are remembered, so a forged token
 * can never be "cached in"; every other stage (sender constraint, authorization) still runs.
 *
 * Refusals that are the token's own fault (`final` in the denial table: a bad signature, the
 * wrong audience, …) are remembered too, for `REFUSAL_MEMORY_SECONDS` and only while the
 * Authority's key set is the one that refused them (a rotated key may verify it): a client
 * that keeps retrying the same bad token costs one signature check, not one per retry.
 *
 * @module
 */

import { sha256Base64Url } from "../encoding.ts";
import { createLruCache } from "../lru.ts";
import type { Caller } from "./caller.ts";
import { Denial } from "../denial.ts";

/** How long a final refusal of a token is remembered. */
export const REFUSAL_MEMORY_SECONDS = 600;

/** Verification results by token hash. */
export interface VerifiedTokenCache {
  /** The caller of `token`: remembered while valid at `now`, else what `verify` says. */
  authenticate(token: string, now: Date, verify: () => Promise<Caller>): Promise<Caller>;
}

/**
 * A cache of at most `capacity` verified tokens (0 disables it). `clockSkewSeconds` is the
 * tolerance verification applied to `exp`/`nbf`, so a remembered token expires exactly when
 * verifying it again would fail. `keyVersion` names the Authority key set in use.
 */
export function createVerifiedTokenCache(
  capacity: number,
  clockSkewSeconds: number,
  keyVersion: () => number = () => 0,
): VerifiedTokenCache {
  const callers = createLruCache<string, Caller>(capacity);
  const refusals = createLruCache<string, { denial: Denial; until: number; keys: number }>(
    capacity,
  );
  const inFlight = new Map<string, Promise<Caller>>();
  return {
    async authenticate(token, now, verify) {
      if (capacity === 0) return await verify();
      const key = sha256Base64Url(token);
      const seconds = now.getTime() / 1000;
      const known = callers.get(key);
      if (known) {
        // The same bounds verification applies: before exp (+ skew), from nbf (- skew).
        const valid = seconds < known.validity.expiresAt + clockSkewSeconds &&
          (known.validity.notBefore === undefined ||
            seconds >= known.validity.notBefore - clockSkewSeconds);
        if (valid) return known;
        callers.delete(key);
      }
      const refused = refusals.get(key);
      if (refused && seconds < refused.until && refused.keys === keyVersion()) throw refused.denial;
      // Concurrent presentations of one token share one verification (and one rate-limit slot).
      let verifying = inFlight.get(key);
      if (!verifying) {
        const keys = keyVersion();
        verifying = verify().catch((error) => {
          if (error instanceof Denial && error.rendering.final) {
            refusals.set(key, { denial: error, until: seconds + REFUSAL_MEMORY_SECONDS, keys });
          }
          throw error;
        }).finally(() => inFlight.delete(key));
        inFlight.set(key, verifying);
      }
      const caller = await verifying;
      callers.set(key, caller);
      return caller;
    },
  };
}
