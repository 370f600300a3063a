/**
 * `Authority`: who issues caller tokens, where its keys are, and how its tokens are checked.
 *
 * @module
 */

import { type AuthorityOptions, DEFAULT_PLAN_CLAIM } from "../authn/authenticate.ts";
import type { AuthorityKeyLocation } from "../authn/authority_keys.ts";
import type { DpopOptions } from "../authn/dpop.ts";
import { SENDER_CONSTRAINTS } from "../authn/sender.ts";
import { ASYMMETRIC_JWS_ALGORITHMS } from "../jws_algorithms.ts";
import { ConfigError } from "./error.ts";
import {
  choice,
  duration,
  flag,
  integer,
  list,
  section,
  settle,
  type Settled,
  text,
} from "./schema.ts";
import { url } from "./values.ts";

const DPOP_SECTION = section({
  doc: "DPoP proof policy (RFC 9449)",
  fields: {
    Algorithms: list({
      item: text({ doc: "an asymmetric JWS algorithm" }),
      default: ["ES256", "ES384", "RS256", "PS256", "EdDSA"],
      doc:
        "proof signature algorithms accepted ([DPoP profile](sender-constraints.md#dpop-profile))",
    }),
    ProofMaxAge: duration({ default: 60, min: 1, max: 600, doc: "how old a proof's `iat` may be" }),
    RequireNonce: flag({
      default: false,
      doc: "demand a server nonce (`DPoP-Nonce`) in every proof",
    }),
    NonceLifetime: duration({
      default: 300,
      min: 10,
      max: 3600,
      doc: "how long one server nonce stays valid",
    }),
    ReplayCacheSize: integer({
      default: 100_000,
      min: 1_000,
      max: 10_000_000,
      unit: "proofs",
      doc: "proof `jti`s remembered for replay detection at once",
    }),
  },
});

/** The `Authority` section. */
export const AUTHORITY_SECTION = section({
  doc: "the OIDC Authority that issues caller tokens",
  fields: {
    Issuer: text({ required: true, doc: "exact `iss` of caller tokens" }),
    MetadataAddress: text({
      defaultText: "`<Issuer>/.well-known/openid-configuration`",
      doc: "OIDC discovery document; its `issuer` must equal `Issuer`",
    }),
    JwksUri: text({ doc: "the Authority's JWKS URL (skips discovery)" }),
    JwksPath: text({ doc: "a local JWKS file, for air-gapped sites (public keys only)" }),
    Audiences: list({
      item: text({ doc: "an audience" }),
      defaultText: "`[]` (not checked)",
      doc: "caller token `aud` must contain one of these",
    }),
    RequiredScopes: list({
      item: text({ doc: "an OAuth scope" }),
      default: ["registry.token.issue"],
      doc: "scopes every caller token must carry",
    }),
    ClockSkew: duration({ default: 60, min: 0, max: 300, doc: "tolerance for `exp` and `nbf`" }),
    SenderConstraint: choice({
      values: SENDER_CONSTRAINTS,
      default: "none",
      doc: "binding every caller token must have " +
        "([Sender-constrained callers](sender-constraints.md))",
    }),
    PlanClaim: text({
      default: DEFAULT_PLAN_CLAIM,
      required: true,
      doc: "the caller-token claim that names the caller's plan",
    }),
    TokenCacheSize: integer({
      default: 10_000,
      min: 0,
      max: 1_000_000,
      unit: "tokens",
      doc: "verified caller tokens kept until their `exp` (`0`: none); " +
        "[why that is safe](performance.md#what-is-cached-and-why-that-is-safe)",
    }),
    DPoP: DPOP_SECTION,
  },
});

/** `Authority` after defaults. */
export type AuthoritySection = Settled<typeof AUTHORITY_SECTION>;

/** Characters RFC 6749 allows in a scope token. */
const SCOPE_TOKEN = /^[\x21\x23-\x5b\x5d-\x7e]+$/;

/** Builds how caller tokens are checked; `path` is the section's key. */
export function authorityOptions(authority: AuthoritySection, path: string): AuthorityOptions {
  authority.RequiredScopes.forEach((scope, index) => {
    if (!SCOPE_TOKEN.test(scope)) {
      throw new ConfigError(`${path}:RequiredScopes:${index}`, "is not a valid OAuth scope");
    }
  });
  return {
    issuer: authority.Issuer,
    keys: authorityKeyLocation(authority, path),
    audiences: authority.Audiences,
    requiredScopes: authority.RequiredScopes,
    clockSkewSeconds: authority.ClockSkew,
    senderConstraint: authority.SenderConstraint,
    dpop: dpopOptions(authority.DPoP, `${path}:DPoP`),
    planClaim: authority.PlanClaim,
    tokenCacheSize: authority.TokenCacheSize,
  };
}

/** DPoP proof policy when `Authority:DPoP` says nothing. */
export const DEFAULT_DPOP_OPTIONS: DpopOptions = dpopOptions(
  settle(DPOP_SECTION, undefined, "DPoP"),
  "DPoP",
);

function dpopOptions(dpop: Settled<typeof DPOP_SECTION>, path: string): DpopOptions {
  dpop.Algorithms.forEach((algorithm, index) => {
    if (!ASYMMETRIC_JWS_ALGORITHMS.includes(algorithm)) {
      throw new ConfigError(
        `${path}:Algorithms:${index}`,
        `"${algorithm}" is not an asymmetric JWS algorithm (${
          ASYMMETRIC_JWS_ALGORITHMS.join(", ")
        })`,
      );
    }
  });
  return {
    algorithms: dpop.Algorithms,
    proofMaxAgeSeconds: dpop.ProofMaxAge,
    requireNonce: dpop.RequireNonce,
    nonceLifetimeSeconds: dpop.NonceLifetime,
    replayCacheSize: dpop.ReplayCacheSize,
  };
}

function authorityKeyLocation(authority: AuthoritySection, path: string): AuthorityKeyLocation {
  const given = [
    authority.MetadataAddress && "MetadataAddress",
    authority.JwksUri && "JwksUri",
    authority.JwksPath && "JwksPath",
  ].filter(Boolean);
  if (given.length > 1) {
    throw new ConfigError(path, `set only one of ${given.join(", ")}`);
  }
  if (authority.JwksPath) return { kind: "jwks-file", path: authority.JwksPath };
  if (authority.JwksUri) {
    return { kind: "jwks-uri", jwksUri: url(authority.JwksUri, `${path}:JwksUri`) };
  }
  if (authority.MetadataAddress) {
    return {
      kind: "discovery",
      metadataAddress: url(authority.MetadataAddress, `${path}:MetadataAddress`),
    };
  }
  const base = url(
    authority.Issuer,
    `${path}:Issuer`,
    "must be an http(s) URL when no MetadataAddress, JwksUri or JwksPath is set",
  );
  return {
    kind: "discovery",
    metadataAddress: `${base.replace(/\/$/, "")}/.well-known/openid-configuration`,
  };
}
