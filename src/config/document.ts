/**
 * The configuration document: the schema composed of its sections, and how the YAML file and `REGISTRY_TOKEN_*`
 * environment variables are merged into one typed tree.
 *
 * Keys are case-insensitive and environment variables override the file, as in .NET
 * configuration: `REGISTRY_TOKEN_REGISTRYTOKENSERVICE__SIGNING__KEYPATH` sets
 * `RegistryTokenService:Signing:KeyPath`, and list items are addressed by index
 * (`..._REVOKEDLICENSES__0`). The environment is never listed — only the names the schema
 * can produce are read — because restricted permissions forbid listing it.
 *
 * @module
 */

import { parseDuration } from "./duration.ts";
import { ConfigError } from "./error.ts";
import { AUTHORITIES_LIST, AUTHORITY_SECTION } from "./authority.ts";
import { POLICY_FIELDS } from "./policy.ts";
import { type Entry, type Merged, section } from "./schema.ts";
import { SERVER_SECTION } from "./server.ts";
import { SIGNING_SECTION } from "./signing.ts";
import { STATE_SECTION } from "./state.ts";
import { TELEMETRY_SECTION } from "./telemetry.ts";

/** Prefix of every environment variable the service reads. */
export const ENV_PREFIX = "REGISTRY_TOKEN_";

/** The root section every key lives under. */
export const ROOT_KEY = "RegistryTokenService";

/** Every configuration key, a section per file. */
export const SERVICE_SCHEMA = section({
  doc: "the token service",
  fields: {
    Server: SERVER_SECTION,
    Authority: AUTHORITY_SECTION,
    Authorities: AUTHORITIES_LIST,
    Signing: SIGNING_SECTION,
    State: STATE_SECTION,
    Telemetry: TELEMETRY_SECTION,
    ...POLICY_FIELDS,
  },
});

const DOCUMENT_SCHEMA = section({ doc: "the file", fields: { [ROOT_KEY]: SERVICE_SCHEMA } });

/** The merged, type-checked configuration tree (canonical key spelling, durations in seconds). */
export type ServiceDocument = Merged<typeof SERVICE_SCHEMA>;

/** Reads one environment variable; `undefined` when unset. */
export type EnvReader = (name: string) => string | undefined;

/**
 * Merges a parsed YAML document with environment overrides into a checked
 * `ServiceDocument`. Throws `ConfigError` for unknown keys or values of the wrong type.
 */
export function mergeDocument(yamlDocument: unknown, getEnv: EnvReader): ServiceDocument {
  // Sound: resolve walks exactly the declaration the document type is derived from.
  const merged = resolve(yamlDocument, DOCUMENT_SCHEMA, "", "", getEnv) as
    | Merged<typeof DOCUMENT_SCHEMA>
    | undefined;
  return merged?.[ROOT_KEY] ?? {};
}

function resolve(
  value: unknown,
  entry: Entry,
  path: string,
  envName: string,
  getEnv: EnvReader,
): unknown {
  if (entry.kind === "list") return resolveList(value, entry.item, path, envName, getEnv);
  if (entry.kind === "section") return resolveFields(value, entry.fields, path, envName, getEnv);
  const fromEnv = envName ? getEnv(envName) : undefined;
  const raw = fromEnv ?? value;
  return raw === undefined || raw === null ? undefined : coerce(raw, entry, path);
}

function resolveList(
  value: unknown,
  item: Entry,
  path: string,
  envName: string,
  getEnv: EnvReader,
) {
  if (value !== undefined && value !== null && !Array.isArray(value)) {
    throw new ConfigError(path, "must be a list");
  }
  const fromFile = (value ?? []) as unknown[];
  const result: unknown[] = [];
  for (let index = 0;; index++) {
    const itemEnv = `${envName}__${index}`;
    if (index >= fromFile.length && !envDefinesAny(item, itemEnv, getEnv)) break;
    const resolved = resolve(fromFile[index], item, `${path}:${index}`, itemEnv, getEnv);
    if (resolved !== undefined) result.push(resolved);
  }
  // An absent list stays absent so that its default applies; an explicit `[]` stays empty.
  return value === undefined && result.length === 0 ? undefined : result;
}

function resolveFields(
  value: unknown,
  fields: Readonly<Record<string, Entry>>,
  path: string,
  envName: string,
  getEnv: EnvReader,
) {
  if (value !== undefined && value !== null && !isMapping(value)) {
    throw new ConfigError(path || "(document)", "must be a mapping of keys to values");
  }
  const canonical = new Map(Object.keys(fields).map((key) => [key.toLowerCase(), key]));
  const fromFile = new Map<string, unknown>();
  for (const [key, fieldValue] of Object.entries(value ?? {})) {
    const known = canonical.get(key.toLowerCase());
    const keyPath = path ? `${path}:${key}` : key;
    if (!known) {
      throw new ConfigError(keyPath, `unknown key (known: ${[...canonical.values()].join(", ")})`);
    }
    if (fromFile.has(known)) {
      throw new ConfigError(keyPath, "given twice with different letter case");
    }
    fromFile.set(known, fieldValue);
  }
  const result: Record<string, unknown> = {};
  for (const [key, field] of Object.entries(fields)) {
    const keyEnv = envName
      ? `${envName}__${key.toUpperCase()}`
      : `${ENV_PREFIX}${key.toUpperCase()}`;
    const resolved = resolve(
      fromFile.get(key),
      field,
      path ? `${path}:${key}` : key,
      keyEnv,
      getEnv,
    );
    if (resolved !== undefined) result[key] = resolved;
  }
  // An absent section stays absent (its presence can mean something, e.g. Server:Tls).
  return value === undefined && Object.keys(result).length === 0 ? undefined : result;
}

/** Whether any variable the schema could produce under `envName` is set (list item probing). */
function envDefinesAny(entry: Entry, envName: string, getEnv: EnvReader): boolean {
  if (entry.kind === "list") return envDefinesAny(entry.item, `${envName}__0`, getEnv);
  if (entry.kind !== "section") return getEnv(envName) !== undefined;
  return Object.entries(entry.fields).some(([key, field]) =>
    envDefinesAny(field, `${envName}__${key.toUpperCase()}`, getEnv)
  );
}

type ScalarKind = Exclude<Entry["kind"], "list" | "section">;

function coerce(
  raw: unknown,
  entry: Extract<Entry, { kind: ScalarKind }>,
  path: string,
): string | number | boolean {
  switch (entry.kind) {
    case "text":
    case "choice":
      if (typeof raw === "string") return raw;
      if (typeof raw === "number" || typeof raw === "boolean") return String(raw);
      throw new ConfigError(path, "must be a text value");
    case "integer": {
      const number = typeof raw === "string" && /^\s*-?\d+\s*$/.test(raw) ? Number(raw) : raw;
      if (typeof number === "number" && Number.isSafeInteger(number)) return number;
      // A word (`auto`) is checked against the declared ones by settle().
      if (typeof raw === "string" && entry.words?.length) return raw;
      const words = (entry.words ?? []).map((word) => ` or ${word}`).join("");
      throw new ConfigError(path, `must be a whole number${words}, got ${JSON.stringify(raw)}`);
    }
    case "flag": {
      if (typeof raw === "boolean") return raw;
      const text = String(raw).trim().toLowerCase();
      if (text === "true" || text === "false") return text === "true";
      throw new ConfigError(path, `must be true or false, got ${JSON.stringify(raw)}`);
    }
    case "duration":
      if (typeof raw !== "string" && typeof raw !== "number") {
        throw new ConfigError(path, "must be a duration such as 5m, 300 or 00:05:00");
      }
      try {
        return parseDuration(raw);
      } catch (error) {
        throw new ConfigError(path, (error as Error).message);
      }
  }
}

function isMapping(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
