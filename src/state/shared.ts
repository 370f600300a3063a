/**
 * The one small interface shared state sits behind: it makes the DPoP replay cache, the DPoP
 * nonce source and the failure budget's buckets, and says whether its backend answers. The
 * memory implementation is the single-process service as it always was; the Redis one
 * (`redis.ts`) shares the same three things between every process that names the same backend.
 * Nothing else in the request path knows which one is in use.
 *
 * @module
 */

import type { NonceSource, ReplayCache } from "../authn/dpop.ts";
import { createNonceSource, createReplayCache } from "../authn/dpop_state.ts";
import { type BucketStore, createMemoryBuckets } from "../http/failure_limit.ts";
import type { StateOptions } from "./options.ts";

/** What `/readyz` says about the shared state. */
export interface StateReport {
  readonly backend: StateOptions["backend"];
  /** `unavailable`: DPoP requests are refused with `503 state_unavailable` until it is back. */
  readonly status: "up" | "unavailable";
}

/** A state backend and the parts built on it. */
export interface SharedState {
  /** The settings it was opened with (a reload with the same ones keeps it). */
  readonly options: StateOptions;
  /** The DPoP replay cache; `capacity` bounds the memory backend only. */
  replayCache(capacity: number): ReplayCache;
  /** Server nonces valid for `lifetimeSeconds`, then one more lifetime. */
  nonceSource(lifetimeSeconds: number, randomNonce: () => string): NonceSource;
  /** The failure budget's buckets of `burst` checks refilling at `perMinute`. */
  buckets(burst: number, perMinute: number): BucketStore;
  /**
   * Whether the files it was opened with (password, CA) still hold what they held then: a
   * reload that finds them changed (a rotated password) opens a new connection.
   */
  sameFiles(readFile: (path: string) => Promise<Uint8Array>): Promise<boolean>;
  /** Whether the backend answers now, within `State:Timeout`. */
  report(): Promise<StateReport>;
  /** Releases the backend (its connection); the parts it made share it. */
  close(): Promise<void>;
}

/** The memory backend: this process alone. */
export function memoryState(options: StateOptions): SharedState {
  return {
    options,
    replayCache: (capacity) => createReplayCache(capacity),
    nonceSource: (lifetime, randomNonce) => createNonceSource(lifetime, randomNonce),
    buckets: (burst, perMinute) => createMemoryBuckets(burst, perMinute),
    sameFiles: () => Promise.resolve(true),
    report: () => Promise.resolve({ backend: "memory", status: "up" }),
    close: () => Promise.resolve(),
  };
}

/** Whether a reload from `before` to `after` may keep the backend (and what it holds). */
export function sameState(before: StateOptions, after: StateOptions): boolean {
  if (before.backend === "memory" || after.backend === "memory") {
    return before.backend === after.backend;
  }
  // hostPort is derived from address, so it needs no comparison of its own.
  return before.address === after.address && before.passwordPath === after.passwordPath &&
    before.caPath === after.caPath && before.keyPrefix === after.keyPrefix &&
    before.timeoutSeconds === after.timeoutSeconds;
}
