/**
 * Assertions that a pipeline stage refused with a particular `Denial`.
 *
 * @module
 */

import assert from "node:assert/strict";
import { Denial, type DenialReason } from "../../src/denial.ts";

/**
 * Asserts that `promise` rejects with a `Denial` for `reason` and returns that denial, so the
 * caller can check its message or rendering too.
 *
 * @param promise The operation expected to be refused.
 * @param reason The reason the denial must carry.
 * @param what What was tried, named in the failure message (e.g. the input).
 */
export async function assertDenied(
  promise: Promise<unknown>,
  reason: DenialReason,
  what?: string,
): Promise<Denial> {
  try {
    await promise;
  } catch (error) {
    return checkDenial(error, reason, what);
  }
  assert.fail(`${expectation(reason, what)}, but it was not refused`);
}

/**
 * Asserts that calling `fn` throws a `Denial` for `reason` and returns that denial, so the
 * caller can check its message or rendering too.
 *
 * @param fn The operation expected to be refused.
 * @param reason The reason the denial must carry.
 * @param what What was tried, named in the failure message (e.g. the input).
 */
export function assertDeniedSync(fn: () => unknown, reason: DenialReason, what?: string): Denial {
  try {
    fn();
  } catch (error) {
    return checkDenial(error, reason, what);
  }
  assert.fail(`${expectation(reason, what)}, but it was not refused`);
}

function checkDenial(caught: unknown, reason: DenialReason, what?: string): Denial {
  assert.ok(caught instanceof Denial, `${expectation(reason, what)}, got ${caught}`);
  assert.equal(caught.reason, reason, caught.message);
  return caught;
}

function expectation(reason: DenialReason, what?: string): string {
  return `expected a Denial (${reason})${what === undefined ? "" : ` for ${what}`}`;
}
