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
 * Where the buckets live: this process's memory, or a shared backend (`src/state/`) so that one
 * client has one budget across every process. Each operation is atomic on its bucket.
 */
export interface BucketStore {
  /** Takes one check from `client`'s bucket if it holds at least one; says whether it did. */
  take(client: string, now: number): Promise<boolean>;
  /** Adds `tokens` (negative: charges them) to `client`'s bucket, within `0..burst`. */
  add(client: string, now: number, tokens: number): Promise<void>;
  /** How many checks `client`'s bucket holds at `now`. */
  level(client: string, now: number): Promise<number>;
  /** Releases what the store holds once no service uses it. */
  close(): Promise<void>;
}

/**
 * Buckets of `burst` checks refilling at `perMinute`, in memory; at most `clients` tracked at
 * once. They are held in memory only, so `close` has nothing to release.
 */
export function createMemoryBuckets(
  burst: number,
  perMinute: number,
  clients = 10_000,
): BucketStore {
  const buckets = createLruCache<string, { tokens: number; at: number }>(burst > 0 ? clients : 0);
  const refillPerSecond = perMinute / 60;
  // A request's `now` may be seconds old by the time its check ends (a slow form, a wait in the
  // lane): a bucket's time never moves backwards, or an old `now` would refill it.
  const level = (client: string, now: number) => {
    const bucket = buckets.get(client);
    if (!bucket) return burst;
    return Math.min(burst, bucket.tokens + Math.max(0, now - bucket.at) * refillPerSecond);
  };
  const add = (client: string, now: number, tokens: number) =>
    void buckets.set(client, {
      tokens: Math.max(0, Math.min(burst, level(client, now) + tokens)),
      at: Math.max(now, buckets.get(client)?.at ?? now),
    });
  return {
    take: (client, now) => {
      if (level(client, now) < 1) return Promise.resolve(false);
      add(client, now, -1);
      return Promise.resolve(true);
    },
    add: (client, now, tokens) => Promise.resolve(add(client, now, tokens)),
    level: (client, now) => Promise.resolve(level(client, now)),
    close: () => Promise.resolve(),
  };
}

/** Budgets of `burst` checks refilling at `perMinute`, in memory; at most `clients` tracked. */
export function createVerificationBudget(
  burst: number,
  perMinute: number,
  clients = 10_000,
): VerificationBudget {
  return createBudget(burst, perMinute, createMemoryBuckets(burst, perMinute, clients));
}

/**
 * The budget over `buckets`. The lanes an over-budget client waits in are this process's: the
 * buckets say whether a check may run at once, and are what a shared backend shares.
 */
export function createBudget(
  burst: number,
  perMinute: number,
  buckets: BucketStore,
): VerificationBudget {
  const lanes = new Map<string, { waiting: (() => void)[] }>();
  const refillPerSecond = perMinute / 60;
  const charged = (error: unknown) => error instanceof Denial && error.rendering.final === true;

  /** Waits for the client's single lane; refuses when too many already wait. */
  const enterLane = async (client: string, now: number) => {
    const lane = lanes.get(client);
    if (!lane) return void lanes.set(client, { waiting: [] });
    if (lane.waiting.length >= MAX_WAITING_CHECKS) {
      const level = await buckets.level(client, now);
      const retryAfter = Math.max(1, Math.ceil((1 - level) / refillPerSecond));
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
      // Held while the check runs, so concurrent checks cannot all slip past the budget.
      if (await buckets.take(client, now)) {
        try {
          const result = await verify();
          await buckets.add(client, now, 1);
          return result;
        } catch (error) {
          if (!charged(error)) await buckets.add(client, now, 1);
          throw error;
        }
      }
      await enterLane(client, now);
      try {
        return await verify();
      } catch (error) {
        if (charged(error)) await buckets.add(client, now, -1);
        throw error;
      } finally {
        leaveLane(client);
      }
    },
    close: () => buckets.close(),
  };
}
