/**
 * The configuration document: its key schema, and how the YAML file and `REGISTRY_TOKEN_*`
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

/** Prefix of every environment variable the service reads. */
export const ENV_PREFIX = "REGISTRY_TOKEN_";

type Scalar = "string" | "integer" | "boolean" | "duration";
type Spec = Scalar | { readonly list: Spec } | { readonly fields: Readonly<Record<string, Spec>> };

const strings = { list: "string" } as const;

const SERVICE_SPEC = {
  fields: {
    Server: {
      fields: {
        Host: "string",
        Port: "integer",
        PublicBaseUrl: "string",
        Tls: {
          fields: {
            CertificatePath: "string",
            KeyPath: "string",
            KeyPassword: "string",
            ClientCaPath: "string",
          },
        },
        TrustedProxies: strings,
        ClientCertificateHeader: "string",
        DrainTimeout: "duration",
        HeadersTimeout: "duration",
        BodyTimeout: "duration",
        IdleTimeout: "duration",
        RequestTimeout: "duration",
        MaxConnections: "integer",
        ReloadOnChange: "boolean",
        FailedAuthLimit: { fields: { Burst: "integer", PerMinute: "integer" } },
      },
    },
    Authority: {
      fields: {
        Issuer: "string",
        MetadataAddress: "string",
        JwksUri: "string",
        JwksPath: "string",
        Audiences: strings,
        RequiredScopes: strings,
        ClockSkew: "duration",
        SenderConstraint: "string",
        TokenCacheSize: "integer",
        DPoP: {
          fields: {
            Algorithms: strings,
            ProofMaxAge: "duration",
            RequireNonce: "boolean",
            NonceLifetime: "duration",
            ReplayCacheSize: "integer",
          },
        },
      },
    },
    Signing: {
      fields: {
        Issuer: "string",
        KeyPath: "string",
        KeyPassword: "string",
        CertificatePath: "string",
        Lifetime: "duration",
        Audience: "string",
        KeyId: "string",
        KeyIdFormat: "string",
        ReuseWindow: "duration",
        PublishedKeys: {
          list: {
            fields: {
              KeyPath: "string",
              KeyPassword: "string",
              CertificatePath: "string",
              KeyId: "string",
              Until: "string",
            },
          },
        },
      },
    },
    Registry: { fields: { Realm: "string", AllowedServices: strings } },
    Plans: {
      list: {
        fields: {
          Name: "string",
          Repositories: {
            list: { fields: { Type: "string", Pattern: "string", Actions: strings } },
          },
        },
      },
    },
    DefaultPlan: "string",
    RevokedLicenses: strings,
    PartialGrants: "boolean",
  },
} as const satisfies Spec;

const DOCUMENT_SPEC = { fields: { RegistryTokenService: SERVICE_SPEC } } as const satisfies Spec;

/** A plan rule as written in configuration. */
export interface RuleDocument {
  Type?: string;
  Pattern?: string;
  Actions?: string[];
}

/** The merged, type-checked configuration tree (canonical key spelling, durations in seconds). */
export interface ServiceDocument {
  Server?: {
    Host?: string;
    Port?: number;
    PublicBaseUrl?: string;
    Tls?: {
      CertificatePath?: string;
      KeyPath?: string;
      KeyPassword?: string;
      ClientCaPath?: string;
    };
    TrustedProxies?: string[];
    ClientCertificateHeader?: string;
    DrainTimeout?: number;
    HeadersTimeout?: number;
    BodyTimeout?: number;
    IdleTimeout?: number;
    RequestTimeout?: number;
    MaxConnections?: number;
    ReloadOnChange?: boolean;
    FailedAuthLimit?: { Burst?: number; PerMinute?: number };
  };
  Authority?: {
    Issuer?: string;
    MetadataAddress?: string;
    JwksUri?: string;
    JwksPath?: string;
    Audiences?: string[];
    RequiredScopes?: string[];
    ClockSkew?: number;
    SenderConstraint?: string;
    TokenCacheSize?: number;
    DPoP?: {
      Algorithms?: string[];
      ProofMaxAge?: number;
      RequireNonce?: boolean;
      NonceLifetime?: number;
      ReplayCacheSize?: number;
    };
  };
  Signing?: {
    Issuer?: string;
    KeyPath?: string;
    KeyPassword?: string;
    CertificatePath?: string;
    Lifetime?: number;
    Audience?: string;
    KeyId?: string;
    KeyIdFormat?: string;
    ReuseWindow?: number;
    PublishedKeys?: {
      KeyPath?: string;
      KeyPassword?: string;
      CertificatePath?: string;
      KeyId?: string;
      Until?: string;
    }[];
  };
  Registry?: { Realm?: string; AllowedServices?: string[] };
  Plans?: { Name?: string; Repositories?: RuleDocument[] }[];
  DefaultPlan?: string;
  RevokedLicenses?: string[];
  PartialGrants?: boolean;
}

/** Invalid configuration: names the key (`RegistryTokenService:Signing:Lifetime`) and problem. */
export class ConfigError extends Error {
  override readonly name = "ConfigError";
  /** Colon-separated path of the offending key. */
  readonly key: string;

  /** @param key colon-separated key path @param problem what is wrong with it */
  constructor(key: string, problem: string) {
    super(`${key}: ${problem}`);
    this.key = key;
  }
}

/** Reads one environment variable; `undefined` when unset. */
export type EnvReader = (name: string) => string | undefined;

/**
 * Merges a parsed YAML document with environment overrides into a checked
 * `ServiceDocument`. Throws `ConfigError` for unknown keys or values of the wrong type.
 */
export function mergeDocument(yamlDocument: unknown, getEnv: EnvReader): ServiceDocument {
  const merged = resolve(yamlDocument, DOCUMENT_SPEC, "", "", getEnv) as
    | { RegistryTokenService?: ServiceDocument }
    | undefined;
  return merged?.RegistryTokenService ?? {};
}

function resolve(
  value: unknown,
  spec: Spec,
  path: string,
  envName: string,
  getEnv: EnvReader,
): unknown {
  if (typeof spec === "string") {
    const fromEnv = envName ? getEnv(envName) : undefined;
    const raw = fromEnv ?? value;
    return raw === undefined || raw === null ? undefined : coerce(raw, spec, path);
  }
  if ("list" in spec) return resolveList(value, spec.list, path, envName, getEnv);
  return resolveFields(value, spec.fields, path, envName, getEnv);
}

function resolveList(value: unknown, item: Spec, path: string, envName: string, getEnv: EnvReader) {
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
  fields: Readonly<Record<string, Spec>>,
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
  for (const [key, spec] of Object.entries(fields)) {
    const keyEnv = envName
      ? `${envName}__${key.toUpperCase()}`
      : `${ENV_PREFIX}${key.toUpperCase()}`;
    const resolved = resolve(
      fromFile.get(key),
      spec,
      path ? `${path}:${key}` : key,
      keyEnv,
      getEnv,
    );
    if (resolved !== undefined) result[key] = resolved;
  }
  // An absent section stays absent (its presence can mean something, e.g. Server:Tls).
  return value === undefined && Object.keys(result).length === 0 ? undefined : result;
}

/** Whether any variable the spec could produce under `envName` is set (list item probing). */
function envDefinesAny(spec: Spec, envName: string, getEnv: EnvReader): boolean {
  if (typeof spec === "string") return getEnv(envName) !== undefined;
  if ("list" in spec) return envDefinesAny(spec.list, `${envName}__0`, getEnv);
  return Object.entries(spec.fields).some(([key, field]) =>
    envDefinesAny(field, `${envName}__${key.toUpperCase()}`, getEnv)
  );
}

function coerce(raw: unknown, kind: Scalar, path: string): string | number | boolean {
  switch (kind) {
    case "string":
      if (typeof raw === "string") return raw;
      if (typeof raw === "number" || typeof raw === "boolean") return String(raw);
      throw new ConfigError(path, "must be a text value");
    case "integer": {
      const number = typeof raw === "string" && /^\s*-?\d+\s*$/.test(raw) ? Number(raw) : raw;
      if (typeof number === "number" && Number.isSafeInteger(number)) return number;
      throw new ConfigError(path, `must be a whole number, got ${JSON.stringify(raw)}`);
    }
    case "boolean": {
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
