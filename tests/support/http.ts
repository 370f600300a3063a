/**
 * Reading the service's answers in tests: the one registry error of a refusal, and its reason.
 *
 * @module
 */

import assert from "node:assert/strict";

/** The registry error a refusal carries (`errors[0]`); asserts there is exactly one. */
export async function errorOf(response: Response) {
  const body = await response.json();
  assert.equal(body.errors?.length, 1, `expected one registry error, got ${JSON.stringify(body)}`);
  return body.errors[0] as { code: string; message: string; detail: Record<string, unknown> };
}

/** The denial reason of a refusal (`errors[0].detail.reason`). */
export async function reasonOf(response: Response): Promise<string> {
  return (await errorOf(response)).detail.reason as string;
}
