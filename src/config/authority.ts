/**
 * `Authority` and `Authorities`: who issues caller tokens, where their keys are, how their
 * tokens are checked, and how their claims name the subject, plan and licence.
 *
 * @module
 */

import { type AuthorityOptions, DEFAULT_PLAN_CLAIM, LICENSE_CLAIM } from "../authn/caller.ts";
import type { AuthorityKeyLocation } from "../authn/authority_keys.ts";
import { SENDER_CONSTRAINTS } from "../authn/sender.ts";
import { type ClaimName, parseClaimName } from "../claims.ts";
import { ConfigError } from "./error.ts";
import { choice, duration, integer, list, section, type Settled, text } from "./schema.ts";
import { url } from "./values.ts";
import { DPOP_SECTION, dpopOptions } from "./dpop.ts";

const PLAN_MAPPING_SECTION = section({
  doc: "a plan mapping",
  fields: {
    Claim: text({ required: true, doc: "the claim to look at (a name or a JSON Pointer)" }),
    Value: text({
      required: true,
      doc: "the value that selects the plan: the claim equals it, or (an array) contains it",
    }),
    Plan: text({ required: true, doc: "the plan it selects; must name a configured plan" }),
  },
});

/**
 * The keys of one Authority, declared once: the `Authority` section and every `Authorities`
 * item have exactly these (an item adds its `Name`).
 */
const AUTHORITY_FIELDS = {
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
    doc: "scopes every caller token must carry (`[]`: none, e.g. CI and Kubernetes tokens)",
  }),
  ClockSkew: duration({ default: 60, min: 0, max: 300, doc: "tolerance for `exp` and `nbf`" }),
  SenderConstraint: choice({
    values: SENDER_CONSTRAINTS,
    default: "none",
    doc: "binding every caller token must have " +
      "([Sender-constrained callers](sender-constraints.md))",
  }),
  SubjectClaim: text({
    defaultText: "`nameidentifier`, else `sub`, else `client_id`",
    doc: "the claim naming the subject (the registry token's `sub`); when set it must be a " +
      "non-empty string",
  }),
  PlanClaim: text({
    default: DEFAULT_PLAN_CLAIM,
    required: true,
    doc: "the caller-token claim that names the caller's plan",
  }),
  LicenseClaim: text({
    default: LICENSE_CLAIM,
    required: true,
    doc: "the caller-token claim carrying the licence `RevokedLicenses` is compared with",
  }),
  PlanMappings: list({
    item: PLAN_MAPPING_SECTION,
    doc: "plans for tokens without a plan claim: the first `{Claim, Value, Plan}` that matches " +
      "([How the plan is decided](policy.md#how-the-plan-is-decided))",
  }),
  DefaultPlan: text({
    defaultText: "the top-level `DefaultPlan`",
    doc: "plan for this Authority's tokens that neither the plan claim nor a mapping decides",
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
} as const;

/** The one Authority of most sites; the same as an `Authorities` list of one named `default`. */
export const AUTHORITY_SECTION = section({
  doc: "the OIDC Authority that issues caller tokens: an `Authorities` list of one, named " +
    "`default` (set one of `Authority` and `Authorities`)",
  optional: true,
  fields: AUTHORITY_FIELDS,
});

/** Several Authorities, each selected by its tokens' `iss`. */
export const AUTHORITIES_LIST = list({
  doc: "several Authorities; a caller token's `iss` selects the one whose `Issuer` it equals " +
    "([Several Authorities](configuration.md#several-authorities))",
  item: section({
    doc: "an Authority",
    fields: {
      Name: text({
        required: true,
        doc: "names the Authority in the request log: `[a-z0-9-]+`, unique",
      }),
      ...AUTHORITY_FIELDS,
    },
  }),
});

/** One Authority's keys after defaults (an `Authorities` item has its `Name` besides). */
export type AuthoritySection = Settled<{ kind: "section"; fields: typeof AUTHORITY_FIELDS }>;

/** The Name of the Authority the `Authority` section declares. */
export const DEFAULT_AUTHORITY_NAME = "default";

const AUTHORITY_NAME = /^[a-z0-9-]+$/;

/** Characters RFC 6749 allows in a scope token. */
const SCOPE_TOKEN = /^[\x21\x23-\x5b\x5d-\x7e]+$/;

/**
 * Builds the trusted Authorities from `Authority` or `Authorities` (exactly one of them set);
 * `root` is the document root's key. Names and issuers are unique; plans are checked across
 * sections, by `buildOptions`.
 */
export function authoritiesOptions(
  single: AuthoritySection | undefined,
  several: Settled<typeof AUTHORITIES_LIST> | undefined,
  root: string,
): AuthorityOptions[] {
  if (single !== undefined && several !== undefined) {
    throw new ConfigError(
      `${root}:Authorities`,
      `set either ${root}:Authority (one Authority) or ${root}:Authorities (several), not both`,
    );
  }
  if (several === undefined) {
    // Neither: the Authority's Issuer is what is missing, as it always was.
    if (single === undefined) throw new ConfigError(`${root}:Authority:Issuer`, "is required");
    return [authorityOptions(single, DEFAULT_AUTHORITY_NAME, `${root}:Authority`)];
  }
  if (several.length === 0) {
    throw new ConfigError(`${root}:Authorities`, "must list at least one Authority");
  }
  const authorities = several.map((item, index) => {
    const path = `${root}:Authorities:${index}`;
    if (!AUTHORITY_NAME.test(item.Name)) {
      throw new ConfigError(
        `${path}:Name`,
        `must be lower-case letters, digits and "-" ([a-z0-9-]+), got "${item.Name}"`,
      );
    }
    return authorityOptions(item, item.Name, path);
  });
  authorities.forEach((authority, index) => {
    const earlier = authorities.slice(0, index);
    const path = `${root}:Authorities:${index}`;
    if (earlier.some((other) => other.name === authority.name)) {
      throw new ConfigError(
        `${path}:Name`,
        `"${authority.name}" is the Name of an earlier Authority`,
      );
    }
    const sameIssuer = earlier.find((other) => other.issuer === authority.issuer);
    if (sameIssuer) {
      throw new ConfigError(
        `${path}:Issuer`,
        `"${authority.issuer}" is already the Issuer of Authority "${sameIssuer.name}": ` +
          "a token's iss must select one Authority",
      );
    }
  });
  return authorities;
}

/** Builds how one Authority's caller tokens are checked; `path` is its section's key. */
export function authorityOptions(
  authority: AuthoritySection,
  name: string,
  path: string,
): AuthorityOptions {
  authority.RequiredScopes.forEach((scope, index) => {
    if (!SCOPE_TOKEN.test(scope)) {
      throw new ConfigError(`${path}:RequiredScopes:${index}`, "is not a valid OAuth scope");
    }
  });
  return {
    name,
    section: path,
    issuer: authority.Issuer,
    keys: authorityKeyLocation(authority, path),
    audiences: authority.Audiences,
    requiredScopes: authority.RequiredScopes,
    clockSkewSeconds: authority.ClockSkew,
    senderConstraint: authority.SenderConstraint,
    dpop: dpopOptions(authority.DPoP, `${path}:DPoP`),
    subjectClaim: authority.SubjectClaim === undefined
      ? undefined
      : claimName(authority.SubjectClaim, `${path}:SubjectClaim`),
    planClaim: claimName(authority.PlanClaim, `${path}:PlanClaim`),
    licenseClaim: claimName(authority.LicenseClaim, `${path}:LicenseClaim`),
    planMappings: authority.PlanMappings.map((mapping, index) => ({
      claim: claimName(mapping.Claim, `${path}:PlanMappings:${index}:Claim`),
      value: mapping.Value,
      plan: mapping.Plan,
    })),
    defaultPlan: authority.DefaultPlan,
    tokenCacheSize: authority.TokenCacheSize,
  };
}

function claimName(source: string, path: string): ClaimName {
  try {
    return parseClaimName(source);
  } catch (error) {
    throw new ConfigError(path, (error as Error).message);
  }
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
