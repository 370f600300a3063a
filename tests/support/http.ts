/**
 * Reading the service's answers in tests: the one registry error of a refusal, its reason, and
 * that its status and code are the ones the denial table gives that reason.
 *
 * @module
 */

import assert from "node:assert/strict";
import { DENIAL_REASONS } from "../../src/denial.ts";

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

/** The error of a refusal, after checking the registry error form. */
export interface RegistryError {
  readonly code: string;
  readonly message: string;
  readonly detail: { readonly reason: string } & Record<string, unknown>;
}

/**
 * Asserts `body` is `{"errors":[{code,message,detail:{reason}}]}` with a known reason whose
 * rendering matches `status`, and that it carries no token; returns the error.
 */
export function assertRegistryError(status: number, body: unknown, what = ""): RegistryError {
  assert.ok(body !== null && typeof body === "object", `${what}: body is an object`);
  const record = body as Record<string, unknown>;
  assert.equal(record.token, undefined, `${what}: a refusal carries no token`);
  assert.equal(record.access_token, undefined, `${what}: a refusal carries no access_token`);
  assert.ok(Array.isArray(record.errors) && record.errors.length === 1, `${what}: one error`);
  const error = record.errors[0] as RegistryError;
  assert.equal(typeof error.code, "string", `${what}: code`);
  assert.equal(typeof error.message, "string", `${what}: message`);
  assert.ok(error.detail !== null && typeof error.detail === "object", `${what}: detail`);
  assert.equal(typeof error.detail.reason, "string", `${what}: detail.reason`);
  const rendering = (DENIAL_REASONS as Record<string, { status: number; code: string }>)[
    error.detail.reason
  ];
  assert.ok(rendering, `${what}: ${error.detail.reason} is a documented reason`);
  assert.equal(status, rendering.status, `${what}: status matches ${error.detail.reason}`);
  assert.equal(error.code, rendering.code, `${what}: code matches ${error.detail.reason}`);
  return error;
}
