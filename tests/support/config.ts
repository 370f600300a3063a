/**
 * Helpers for configuration tests: a fake environment, the smallest valid document, and
 * assertions that a `ConfigError` names the expected key.
 *
 * @module
 */

import assert from "node:assert/strict";
import { type EnvReader, mergeDocument } from "../../src/config/document.ts";
import { ConfigError } from "../../src/config/error.ts";
import { buildOptions, type Options } from "../../src/config/options.ts";

/** Prefix of every variable naming a key under `RegistryTokenService`. */
export const ENV = "REGISTRY_TOKEN_REGISTRYTOKENSERVICE__";

/** A Map-backed environment; never the real one. */
export function fakeEnv(variables: Record<string, string> = {}): EnvReader {
  const map = new Map(Object.entries(variables));
  return (name) => map.get(name);
}

/** The smallest valid `RegistryTokenService` section, with top-level sections replaced by `patch`. */
export function doc(patch: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    RegistryTokenService: {
      Authority: { Issuer: "https://authority.test" },
      Signing: { Issuer: "registry-token", KeyPath: "/keys/signing.pem" },
      ...patch,
    },
  };
}

/** Options from a parsed document and environment variables, as startup builds them. */
export function build(document: unknown, variables: Record<string, string> = {}): Options {
  return buildOptions(mergeDocument(document, fakeEnv(variables)));
}

function checkConfigError(error: unknown, key: string, problem: RegExp): true {
  assert.ok(error instanceof ConfigError, `expected a ConfigError, got ${error}`);
  assert.equal(error.key, key);
  assert.ok(error.message.startsWith(`${key}: `), `message ${error.message} names ${key}`);
  assert.match(error.message, problem);
  return true;
}

/** Asserts `fn` throws a `ConfigError` naming `key` with a message matching `problem`. */
export function assertConfigError(fn: () => unknown, key: string, problem: RegExp): void {
  assert.throws(fn, (error) => checkConfigError(error, key, problem));
}

/** `assertConfigError` for a promise. */
export async function assertConfigErrorAsync(
  promise: Promise<unknown>,
  key: string,
  problem: RegExp,
): Promise<void> {
  await assert.rejects(promise, (error) => checkConfigError(error, key, problem));
}
