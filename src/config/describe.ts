/**
 * The effective configuration as plain data, for `--check`: every option after defaults and
 * environment overrides, with passwords replaced so the output can be pasted into a ticket.
 *
 * @module
 */

import type { Options } from "./options.ts";

/** Stands in for every secret value. */
const REDACTED = "<redacted>";

const SECRET_KEYS = new Set(["keyPassword"]);

/** Options as JSON-ready data with secrets redacted. */
export function describeOptions(options: Options): unknown {
  return plain(options);
}

function plain(value: unknown, key?: string): unknown {
  if (key !== undefined && SECRET_KEYS.has(key) && value !== undefined) return REDACTED;
  if (value instanceof Map) return Object.fromEntries([...value].map(([k, v]) => [k, plain(v)]));
  if (value instanceof Set) return [...value].map((item) => plain(item));
  if (value instanceof Date) return value.toISOString();
  if (Array.isArray(value)) return value.map((item) => plain(item));
  if (typeof value === "object" && value !== null) {
    return Object.fromEntries(
      Object.entries(value).map(([entryKey, entry]) => [entryKey, plain(entry, entryKey)]),
    );
  }
  return value;
}
