/**
 * Validated, immutable service options built from the merged configuration document.
 *
 * @module
 */

import { compilePattern } from "../authz/pattern.ts";
import { isAction, isResourceType } from "../authz/scope.ts";
import type { Plan, PlanRule } from "../authz/plan.ts";
import type { KeyIdFormat } from "../token/keys.ts";
import { ASYMMETRIC_JWS_ALGORITHMS } from "../jws_algorithms.ts";
import { canonicalAddress } from "../address.ts";
import { ConfigError, type RuleDocument, type ServiceDocument } from "./document.ts";
import type { AuthorityOptions } from "../authn/authenticate.ts";
import type { AuthorityKeyLocation } from "../authn/authority_keys.ts";
import type { DpopOptions } from "../authn/dpop.ts";
import type { SenderConstraint } from "../authn/sender.ts";
import type { PolicyOptions } from "../authz/authorize.ts";
import type { ConnectionLimits, ServerOptions } from "../http/server_options.ts";

/** A key published for registries to verify with, but not used for signing (rotation). */
export interface PublishedKeyOptions {
  readonly keyPath: string;
  readonly keyPassword?: string;
  readonly certificatePath?: string;
  readonly keyId?: string;
  /** Stop publishing the key after this instant (tokens it signed have expired by then). */
  readonly until?: Date;
}

/** How registry tokens are minted. */
export interface SigningOptions {
  readonly issuer: string;
  readonly keyPath: string;
  readonly keyPassword?: string;
  readonly certificatePath?: string;
  readonly lifetimeSeconds: number;
  readonly audience?: string;
  readonly keyId?: string;
  readonly keyIdFormat: KeyIdFormat;
  /** How long after minting an identical request gets the same token (0: never). */
  readonly reuseWindowSeconds: number;
  /** Keys published besides the signing key: the next one before a rotation, the last one after. */
  readonly publishedKeys: readonly PublishedKeyOptions[];
}

/** Everything the service needs to run, validated once at startup. */
export interface Options {
  readonly server: ServerOptions;
  readonly authority: AuthorityOptions;
  readonly signing: SigningOptions;
  /** `realm` of `WWW-Authenticate` challenges; defaults to this service's own `/token` URL. */
  readonly realm?: string;
  readonly policy: PolicyOptions;
}

/** Default listen port (the registry itself conventionally takes 5000). */
const DEFAULT_PORT = 5001;
/** Default registry token lifetime in seconds. */
const DEFAULT_LIFETIME_SECONDS = 300;
const MAX_LIFETIME_SECONDS = 3600;
const DEFAULT_CLOCK_SKEW_SECONDS = 60;
/** Default capacity of the verified-token cache. */
const DEFAULT_TOKEN_CACHE_SIZE = 10_000;
const MAX_CLOCK_SKEW_SECONDS = 300;
const ROOT = "RegistryTokenService";
const SENDER_CONSTRAINTS: readonly SenderConstraint[] = ["none", "dpop", "mtls", "dpop-or-mtls"];
const HEADER_NAME = /^[A-Za-z0-9-]+$/;

/** Validates a merged document into `Options`; throws `ConfigError` naming the first bad key. */
export function buildOptions(document: ServiceDocument): Options {
  const server = serverOptions(document.Server ?? {});
  const authority = authorityOptions(document.Authority ?? {});
  const realm = optionalUrl(document.Registry?.Realm, "Registry:Realm");
  if (
    (authority.senderConstraint === "dpop" || authority.senderConstraint === "dpop-or-mtls") &&
    !server.publicBaseUrl && !realm
  ) {
    throw new ConfigError(
      key("Authority:SenderConstraint"),
      `${authority.senderConstraint} needs Server:PublicBaseUrl (or Registry:Realm): DPoP proofs ` +
        "are checked against the URL callers use, never against a Host header they choose",
    );
  }
  if (
    (authority.senderConstraint === "mtls" || authority.senderConstraint === "dpop-or-mtls") &&
    !server.tls && !server.clientCertificateHeader
  ) {
    throw new ConfigError(
      key("Authority:SenderConstraint"),
      `${authority.senderConstraint} needs client certificates: configure Server:Tls or Server:ClientCertificateHeader`,
    );
  }
  return {
    server,
    authority,
    signing: signingOptions(document.Signing ?? {}),
    realm,
    policy: policyOptions(document),
  };
}

function authorityOptions(authority: NonNullable<ServiceDocument["Authority"]>): AuthorityOptions {
  const issuer = required(authority.Issuer, "Authority:Issuer");
  const clockSkewSeconds = authority.ClockSkew ?? DEFAULT_CLOCK_SKEW_SECONDS;
  if (clockSkewSeconds > MAX_CLOCK_SKEW_SECONDS) {
    throw new ConfigError(key("Authority:ClockSkew"), `must be at most ${MAX_CLOCK_SKEW_SECONDS}s`);
  }
  const requiredScopes = authority.RequiredScopes ?? ["registry.token.issue"];
  requiredScopes.forEach((scope, index) => {
    if (!/^[\x21\x23-\x5b\x5d-\x7e]+$/.test(scope)) {
      throw new ConfigError(key(`Authority:RequiredScopes:${index}`), "is not a valid OAuth scope");
    }
  });
  const senderConstraint = (authority.SenderConstraint ?? "none").toLowerCase() as SenderConstraint;
  if (!SENDER_CONSTRAINTS.includes(senderConstraint)) {
    throw new ConfigError(
      key("Authority:SenderConstraint"),
      `must be one of ${SENDER_CONSTRAINTS.join(", ")}, got "${authority.SenderConstraint}"`,
    );
  }
  return {
    issuer,
    keys: authorityKeyLocation(authority, issuer),
    audiences: authority.Audiences ?? [],
    requiredScopes,
    clockSkewSeconds,
    senderConstraint,
    dpop: dpopOptions(authority.DPoP ?? {}),
    tokenCacheSize: within(
      authority.TokenCacheSize ?? DEFAULT_TOKEN_CACHE_SIZE,
      0,
      1_000_000,
      "Authority:TokenCacheSize",
      "",
    ),
  };
}

/** DPoP proof policy when `Authority:DPoP` says nothing. */
export const DEFAULT_DPOP_OPTIONS: DpopOptions = {
  algorithms: ["ES256", "ES384", "RS256", "PS256", "EdDSA"],
  proofMaxAgeSeconds: 60,
  requireNonce: false,
  nonceLifetimeSeconds: 300,
  replayCacheSize: 100_000,
};

function dpopOptions(
  dpop: NonNullable<NonNullable<ServiceDocument["Authority"]>["DPoP"]>,
): DpopOptions {
  const defaults = DEFAULT_DPOP_OPTIONS;
  const algorithms = dpop.Algorithms ?? defaults.algorithms;
  algorithms.forEach((algorithm, index) => {
    if (!ASYMMETRIC_JWS_ALGORITHMS.includes(algorithm)) {
      throw new ConfigError(
        key(`Authority:DPoP:Algorithms:${index}`),
        `"${algorithm}" is not an asymmetric JWS algorithm (${
          ASYMMETRIC_JWS_ALGORITHMS.join(", ")
        })`,
      );
    }
  });
  const path = (name: string) => `Authority:DPoP:${name}`;
  return {
    algorithms,
    proofMaxAgeSeconds: within(
      dpop.ProofMaxAge ?? defaults.proofMaxAgeSeconds,
      1,
      600,
      path("ProofMaxAge"),
      "s",
    ),
    requireNonce: dpop.RequireNonce ?? defaults.requireNonce,
    nonceLifetimeSeconds: within(
      dpop.NonceLifetime ?? defaults.nonceLifetimeSeconds,
      10,
      3600,
      path("NonceLifetime"),
      "s",
    ),
    replayCacheSize: within(
      dpop.ReplayCacheSize ?? defaults.replayCacheSize,
      1_000,
      10_000_000,
      path("ReplayCacheSize"),
      "",
    ),
  };
}

function serverOptions(server: NonNullable<ServiceDocument["Server"]>): ServerOptions {
  const trustedProxies = server.TrustedProxies ?? [];
  trustedProxies.forEach((address, index) => {
    if (canonicalAddress(address) === undefined) {
      throw new ConfigError(
        key(`Server:TrustedProxies:${index}`),
        `"${address}" is not an IP address`,
      );
    }
  });
  const header = server.ClientCertificateHeader;
  if (header !== undefined && !HEADER_NAME.test(header)) {
    throw new ConfigError(
      key("Server:ClientCertificateHeader"),
      `"${header}" is not a header name`,
    );
  }
  if (header !== undefined && trustedProxies.length === 0) {
    throw new ConfigError(
      key("Server:ClientCertificateHeader"),
      "needs Server:TrustedProxies: only those addresses may forward a client certificate",
    );
  }
  const publicBaseUrl = optionalUrl(server.PublicBaseUrl, "Server:PublicBaseUrl");
  if (publicBaseUrl && /[?#]/.test(publicBaseUrl)) {
    throw new ConfigError(key("Server:PublicBaseUrl"), "must not have a query or fragment");
  }
  return {
    host: hostName(server.Host ?? "0.0.0.0"),
    port: port(server.Port),
    publicBaseUrl: publicBaseUrl?.replace(/\/+$/, ""),
    tls: server.Tls && {
      certificatePath: required(server.Tls.CertificatePath, "Server:Tls:CertificatePath"),
      keyPath: required(server.Tls.KeyPath, "Server:Tls:KeyPath"),
      keyPassword: server.Tls.KeyPassword,
      clientCaPath: server.Tls.ClientCaPath,
    },
    trustedProxies: new Set(trustedProxies.map((address) => canonicalAddress(address)!)),
    clientCertificateHeader: header?.toLowerCase(),
    drainTimeoutSeconds: within(server.DrainTimeout ?? 10, 0, 300, "Server:DrainTimeout", "s"),
    reloadOnChange: server.ReloadOnChange ?? false,
    limits: connectionLimits(server),
    failedAuthLimit: {
      burst: within(
        server.FailedAuthLimit?.Burst ?? 50,
        0,
        100_000,
        "Server:FailedAuthLimit:Burst",
        "",
      ),
      perMinute: within(
        server.FailedAuthLimit?.PerMinute ?? 60,
        1,
        1_000_000,
        "Server:FailedAuthLimit:PerMinute",
        "",
      ),
    },
  };
}

/** Defaults: headers within 10 s, a body within 10 s, idle 5 s, 30 s in all, 1024 connections. */
function connectionLimits(server: NonNullable<ServiceDocument["Server"]>): ConnectionLimits {
  const headersTimeoutSeconds = within(
    server.HeadersTimeout ?? 10,
    1,
    60,
    "Server:HeadersTimeout",
    "s",
  );
  const bodyTimeoutSeconds = within(server.BodyTimeout ?? 10, 1, 60, "Server:BodyTimeout", "s");
  const requestTimeoutSeconds = within(
    server.RequestTimeout ?? 30,
    1,
    300,
    "Server:RequestTimeout",
    "s",
  );
  if (requestTimeoutSeconds < headersTimeoutSeconds) {
    throw new ConfigError(
      key("Server:RequestTimeout"),
      `must be at least Server:HeadersTimeout (${headersTimeoutSeconds}s)`,
    );
  }
  return {
    headersTimeoutSeconds,
    bodyTimeoutSeconds,
    idleTimeoutSeconds: within(server.IdleTimeout ?? 5, 1, 300, "Server:IdleTimeout", "s"),
    requestTimeoutSeconds,
    maxConnections: within(
      server.MaxConnections ?? 1024,
      1,
      100_000,
      "Server:MaxConnections",
      "",
    ),
  };
}

function hostName(host: string): string {
  if (!/^(?:[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?|[0-9A-Fa-f:.]+)$/.test(host)) {
    throw new ConfigError(key("Server:Host"), `"${host}" is not a host name or IP address`);
  }
  return host;
}

function within(value: number, min: number, max: number, path: string, unit: string): number {
  if (value < min || value > max) {
    throw new ConfigError(
      key(path),
      `must be between ${min}${unit} and ${max}${unit}, got ${value}${unit}`,
    );
  }
  return value;
}

function authorityKeyLocation(
  authority: NonNullable<ServiceDocument["Authority"]>,
  issuer: string,
): AuthorityKeyLocation {
  const given = [
    authority.MetadataAddress && "MetadataAddress",
    authority.JwksUri && "JwksUri",
    authority.JwksPath && "JwksPath",
  ].filter(Boolean);
  if (given.length > 1) {
    throw new ConfigError(key("Authority"), `set only one of ${given.join(", ")}`);
  }
  if (authority.JwksPath) return { kind: "jwks-file", path: authority.JwksPath };
  if (authority.JwksUri) {
    return { kind: "jwks-uri", jwksUri: url(authority.JwksUri, "Authority:JwksUri") };
  }
  if (authority.MetadataAddress) {
    return {
      kind: "discovery",
      metadataAddress: url(authority.MetadataAddress, "Authority:MetadataAddress"),
    };
  }
  const base = url(
    issuer,
    "Authority:Issuer",
    "must be an http(s) URL when no MetadataAddress, JwksUri or JwksPath is set",
  );
  return {
    kind: "discovery",
    metadataAddress: `${base.replace(/\/$/, "")}/.well-known/openid-configuration`,
  };
}

function signingOptions(signing: NonNullable<ServiceDocument["Signing"]>): SigningOptions {
  const lifetimeSeconds = signing.Lifetime ?? DEFAULT_LIFETIME_SECONDS;
  if (!Number.isInteger(lifetimeSeconds)) {
    // exp and expires_in are whole seconds for registries and clients.
    throw new ConfigError(
      key("Signing:Lifetime"),
      `must be whole seconds, got ${lifetimeSeconds}s`,
    );
  }
  if (lifetimeSeconds < 1 || lifetimeSeconds > MAX_LIFETIME_SECONDS) {
    throw new ConfigError(
      key("Signing:Lifetime"),
      `must be between 1s and 1h, got ${lifetimeSeconds}s`,
    );
  }
  return {
    issuer: required(signing.Issuer, "Signing:Issuer"),
    keyPath: required(signing.KeyPath, "Signing:KeyPath"),
    keyPassword: signing.KeyPassword,
    certificatePath: signing.CertificatePath,
    lifetimeSeconds,
    audience: signing.Audience,
    keyId: signing.KeyId,
    keyIdFormat: keyIdFormat(signing.KeyIdFormat),
    reuseWindowSeconds: within(
      signing.ReuseWindow ?? Math.floor(lifetimeSeconds / 5),
      0,
      Math.floor(lifetimeSeconds / 2),
      "Signing:ReuseWindow",
      "s",
    ),
    publishedKeys: (signing.PublishedKeys ?? []).map((published, index) => {
      const path = `Signing:PublishedKeys:${index}`;
      const until = published.Until;
      if (until !== undefined && Number.isNaN(Date.parse(until))) {
        throw new ConfigError(
          key(`${path}:Until`),
          `must be a date and time such as 2026-12-31T00:00:00Z, got "${until}"`,
        );
      }
      return {
        keyPath: required(published.KeyPath, `${path}:KeyPath`),
        keyPassword: published.KeyPassword,
        certificatePath: published.CertificatePath,
        keyId: published.KeyId,
        until: until === undefined ? undefined : new Date(until),
      };
    }),
  };
}

function keyIdFormat(value: string | undefined): KeyIdFormat {
  const format = (value ?? "libtrust").toLowerCase();
  if (format !== "libtrust" && format !== "thumbprint") {
    throw new ConfigError(
      key("Signing:KeyIdFormat"),
      `must be libtrust or thumbprint, got "${value}"`,
    );
  }
  return format;
}

function policyOptions(document: ServiceDocument): PolicyOptions {
  const plans = new Map<string, Plan>();
  (document.Plans ?? []).forEach((plan, index) => {
    const name = required(plan.Name, `Plans:${index}:Name`);
    if (plans.has(name)) {
      throw new ConfigError(key(`Plans:${index}:Name`), `"${name}" is defined twice`);
    }
    const rules = (plan.Repositories ?? []).map((rule, ruleIndex) =>
      planRule(rule, `Plans:${index}:Repositories:${ruleIndex}`)
    );
    plans.set(name, { name, rules });
  });
  const defaultPlan = document.DefaultPlan;
  if (defaultPlan !== undefined && !plans.has(defaultPlan)) {
    const known = plans.size ? [...plans.keys()].join(", ") : "none are configured";
    throw new ConfigError(
      key("DefaultPlan"),
      `"${defaultPlan}" is not a configured plan (${known})`,
    );
  }
  return {
    plans,
    defaultPlan,
    revokedLicenses: new Set(document.RevokedLicenses ?? []),
    allowedServices: new Set(document.Registry?.AllowedServices ?? []),
    partialGrants: document.PartialGrants ?? false,
  };
}

function planRule(rule: RuleDocument, path: string): PlanRule {
  const type = rule.Type ?? "repository";
  if (!isResourceType(type)) {
    throw new ConfigError(key(`${path}:Type`), `"${type}" is not a resource type`);
  }
  const source = required(rule.Pattern, `${path}:Pattern`);
  let pattern;
  try {
    pattern = compilePattern(source);
  } catch (error) {
    throw new ConfigError(key(`${path}:Pattern`), (error as Error).message);
  }
  const actions = rule.Actions ?? [];
  if (actions.length === 0) {
    throw new ConfigError(key(`${path}:Actions`), "must list at least one action");
  }
  actions.forEach((action, index) => {
    if (!isAction(action)) {
      throw new ConfigError(
        key(`${path}:Actions:${index}`),
        `"${action}" is not an action (a-z or *)`,
      );
    }
  });
  return { type, pattern, actions };
}

function port(value: number | undefined): number {
  const result = value ?? DEFAULT_PORT;
  if (result < 0 || result > 65535) throw new ConfigError(key("Server:Port"), "must be 0..65535");
  return result;
}

function required(value: string | undefined, path: string): string {
  if (value === undefined || value.trim() === "") throw new ConfigError(key(path), "is required");
  return value;
}

function optionalUrl(value: string | undefined, path: string): string | undefined {
  return value === undefined ? undefined : url(value, path);
}

function url(value: string, path: string, problem = "must be an http(s) URL"): string {
  if (!URL.canParse(value) || !/^https?:$/.test(new URL(value).protocol)) {
    throw new ConfigError(key(path), `${problem}, got "${value}"`);
  }
  const { username, password } = new URL(value);
  if (username || password) {
    // fetch refuses such URLs, and echoing one would print the password.
    throw new ConfigError(key(path), "must not contain a user name or password");
  }
  return value;
}

function key(path: string): string {
  return `${ROOT}:${path}`;
}
