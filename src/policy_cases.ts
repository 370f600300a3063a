/**
 * The `--test-policy` file: a YAML list of cases `{Name, Claims, Service, Scope, Expect}` (and
 * an optional `Authority`), each a request and the actions the operator expects granted.
 *
 * Keys are case-insensitive, as in the configuration. Unlike the configuration, values keep
 * their YAML types: claims are compared as the Authority would issue them (`exp: 1700000000`
 * is a number, `admin: true` a boolean).
 *
 * @module
 */

import { parse } from "yaml";
import { ConfigError } from "./config/error.ts";

/** One case of a policy test file. */
export interface PolicyCase {
  readonly name: string;
  /** The Authority by `Name`; default: chosen by the claims' `iss`, else the first. */
  readonly authority?: string;
  readonly claims: Readonly<Record<string, unknown>>;
  readonly service: string;
  /** One scope, e.g. `repository:team/app:pull,push`. */
  readonly scope: string;
  /** The actions expected granted (`[]`: a full denial), in any order. */
  readonly expect: readonly string[];
}

const KEYS = ["Name", "Authority", "Claims", "Service", "Scope", "Expect"] as const;
const REQUIRED = new Set(["Name", "Claims", "Service", "Scope", "Expect"]);

/** Parses the cases of `text` (read from `path`); throws `ConfigError` naming the bad key. */
export function parsePolicyCases(text: string, path: string): PolicyCase[] {
  let document: unknown;
  try {
    document = parse(text, { prettyErrors: true });
  } catch (error) {
    throw new ConfigError(path, `is not valid YAML: ${(error as Error).message.split("\n")[0]}`);
  }
  if (!Array.isArray(document) || document.length === 0) {
    throw new ConfigError(
      path,
      "must be a non-empty list of cases {Name, Claims, Service, Scope, Expect}",
    );
  }
  return document.map((item, index) => policyCase(item, `${path}:${index}`));
}

function policyCase(item: unknown, path: string): PolicyCase {
  if (!isMapping(item)) throw new ConfigError(path, "must be a mapping");
  const fields = new Map<string, unknown>();
  for (const [key, value] of Object.entries(item)) {
    const known = KEYS.find((name) => name.toLowerCase() === key.toLowerCase());
    if (!known) throw new ConfigError(`${path}:${key}`, `unknown key (known: ${KEYS.join(", ")})`);
    fields.set(known, value);
  }
  for (const key of REQUIRED) {
    if (fields.get(key) === undefined || fields.get(key) === null) {
      throw new ConfigError(`${path}:${key}`, "is required");
    }
  }
  const text = (key: string) => {
    const value = fields.get(key);
    if (typeof value !== "string" || value === "") {
      throw new ConfigError(`${path}:${key}`, "must be a non-empty text value");
    }
    return value;
  };
  const claims = fields.get("Claims");
  if (!isMapping(claims)) throw new ConfigError(`${path}:Claims`, "must be a mapping of claims");
  const expect = fields.get("Expect");
  if (!Array.isArray(expect) || !expect.every((action) => typeof action === "string")) {
    throw new ConfigError(`${path}:Expect`, "must be a list of actions ([] for a full denial)");
  }
  return {
    name: text("Name"),
    authority: fields.get("Authority") === undefined ? undefined : text("Authority"),
    claims,
    service: text("Service"),
    scope: text("Scope"),
    expect,
  };
}

function isMapping(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
