/**
 * Checks for text values that are more than their type: URLs the service will fetch or name.
 *
 * @module
 */

import { ConfigError } from "./error.ts";

/** `value` checked as an http(s) URL, when set. */
export function optionalUrl(value: string | undefined, path: string): string | undefined {
  return value === undefined ? undefined : url(value, path);
}

/** `value` checked as an http(s) URL without credentials; `problem` replaces the default text. */
export function url(value: string, path: string, problem = "must be an http(s) URL"): string {
  if (!URL.canParse(value) || !/^https?:$/.test(new URL(value).protocol)) {
    throw new ConfigError(path, `${problem}, got "${value}"`);
  }
  const { username, password } = new URL(value);
  if (username || password) {
    // fetch refuses such URLs, and echoing one would print the password.
    throw new ConfigError(path, "must not contain a user name or password");
  }
  return value;
}
