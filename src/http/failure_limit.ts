/**
 * The verification budget: bounds the CPU one client's failed signature checks can burn,
 * without locking out the other callers at its address (a NAT, an ingress, a dockerd).
 *
 * Only signature checks go through it — a cached caller token, a refusal remembered for the
 * same token, and the cheap rejections (malformed, expired, wrong issuer or algorithm) never
 * do. Each client has a bucket of `burst` checks refilled at `perMinute`; a check holds one
 * while it runs and keeps it when it fails. A client whose bucket is empty is not refused: its
 * checks run one at a time, and only when more than `MAX_WAITING_CHECKS` queue behind that one
 * is a check refused with `429`. A new valid caller at that address waits for a few checks
 * (each well under a millisecond of CPU), never for the budget to refill.
 *
 * @module
 */

import { Denial } from "../denial.ts";
import { createLruCache } from "../lru.ts";

/** Checks an over-budget client may have waiting behind its one running check. */
export const MAX_WAITING_CHECKS = 16;

/** Runs signature checks within each client's budget. */
export interface VerificationBudget {
  /**
   * Runs `verify` for `client` at `now` (seconds); a `Denial` it throws whose reason is final
   * (the token's own fault) is charged to the client.
   */
  check<T>(client: string, now: number, verify: () => Promise<T>): Promise<T>;
  /** Releases what the budget holds once no service uses it (a shared backend's connection). */
  close(): Promise<void>;
}

/**
 * Budgets of `burst` checks refilling at `perMinute`; at most `clients` tracked at once. They
 * are held in memory only, so `close` has nothing to release.
 */
export function createVerificationBudget(
  burst: number,
  perMinute: number,
  clients = 10_000,
): VerificationBudget {
  const buckets = createLruCache<string, { tokens: number; at: number }>(burst > 0 ? clients : 0);
  const lanes = new Map<string, { waiting: (() => void)[] }>();
  const refillPerSecond = perMinute / 60;
  // A request's `now` may be seconds old by the time its check ends (a slow form, a wait in the
  // lane): a bucket's time never moves backwards, or an old `now` would refill it.
  const level = (client: string, now: number) => {
    const bucket = buckets.get(client);
    if (!bucket) return burst;
    return Math.min(burst, bucket.tokens + Math.max(0, now - bucket.at) * refillPerSecond);
  };
  const add = (client: string, now: number, tokens: number) =>
    buckets.set(client, {
      tokens: Math.max(0, Math.min(burst, level(client, now) + tokens)),
      at: Math.max(now, buckets.get(client)?.at ?? now),
    });
  const charged = (error: unknown) => error instanceof Denial && error.rendering.final === true;

  /** Waits for the client's single lane; refuses when too many already wait. */
  const enterLane = async (client: string, now: number) => {
    const lane = lanes.get(client);
    if (!lane) return void lanes.set(client, { waiting: [] });
    if (lane.waiting.length >= MAX_WAITING_CHECKS) {
      const retryAfter = Math.max(1, Math.ceil((1 - level(client, now)) / refillPerSecond));
      throw new Denial(
        "rate_limited",
        "too many failed authentications; try again later",
        {},
        retryAfter,
      );
    }
    await new Promise<void>((resolve) => lane.waiting.push(resolve));
  };
  const leaveLane = (client: string) => {
    const next = lanes.get(client)?.waiting.shift();
    if (next) next();
    else lanes.delete(client);
  };

  return {
    async check(client, now, verify) {
      if (burst === 0) return await verify();
      if (level(client, now) >= 1) {
        // Held while the check runs, so concurrent checks cannot all slip past the budget.
        add(client, now, -1);
        try {
          const result = await verify();
          add(client, now, 1);
          return result;
        } catch (error) {
          if (!charged(error)) add(client, now, 1);
          throw error;
        }
      }
      await enterLane(client, now);
      try {
        return await verify();
      } catch (error) {
        if (charged(error)) add(client, now, -1);
        throw error;
      } finally {
        leaveLane(client);
      }
    },
    close: () => Promise.resolve(),
  };
}
