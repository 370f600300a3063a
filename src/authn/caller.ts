/**
 * The caller a claims set stands for, under the Authority its `iss` selects: everything the
 * service checks in a caller token but the signature and the time claims — issuer, audience,
 * required scopes, subject, plan (claim, mappings, the Authority's default), licence and the
 * `cnf` binding's shape. `authenticate` applies it after the signature check, and `--explain`
 * on its own, so there is one implementation. Pure: no keys, no clock, no I/O.
 *
 * @module
 */

import { type ClaimName, readClaim } from "../claims.ts";
import { Denial } from "../denial.ts";
import type { AuthorityKeyLocation } from "./authority_keys.ts";
import type { DpopOptions } from "./dpop.ts";
import type { Confirmation, SenderConstraint } from "./sender.ts";

/** How one Authority's caller tokens are checked and read. */
export interface AuthorityOptions {
  /** The Authority's `Name` (`default` for the `Authority` section); logs and tools name it. */
  readonly name: string;
  /** Its configuration key (`RegistryTokenService:Authority`, `…:Authorities:<n>`), for errors. */
  readonly section: string;
  /** The exact `iss` of its tokens; no two Authorities share one. */
  readonly issuer: string;
  readonly keys: AuthorityKeyLocation;
  /** The caller token's `aud` must contain one of these; empty means not checked. */
  readonly audiences: readonly string[];
  readonly requiredScopes: readonly string[];
  readonly clockSkewSeconds: number;
  readonly senderConstraint: SenderConstraint;
  readonly dpop: DpopOptions;
  /** The claim naming the subject; absent: `nameidentifier`, else `sub`, else `client_id`. */
  readonly subjectClaim?: ClaimName;
  /** The caller-token claim naming the caller's plan. */
  readonly planClaim: ClaimName;
  /** The caller-token claim carrying the caller's licence (compared with `RevokedLicenses`). */
  readonly licenseClaim: ClaimName;
  /** Plans for tokens without a plan claim, by the first mapping a claim matches. */
  readonly planMappings: readonly PlanMapping[];
  /** The plan when neither the plan claim nor a mapping decides (else the top-level default). */
  readonly defaultPlan?: string;
  /** Most verified caller tokens remembered (0: verify every time). */
  readonly tokenCacheSize: number;
}

/** `Claim` equal to `Value` (a string claim) or containing it (an array claim) means `Plan`. */
export interface PlanMapping {
  readonly claim: ClaimName;
  readonly value: string;
  readonly plan: string;
}

/** .NET's name-identifier claim, preferred as the subject when the Authority sets it. */
const NAME_IDENTIFIER_CLAIMS = [
  "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/nameidentifier",
  "nameidentifier",
];
/** The subject claims tried in order when `SubjectClaim` is not set. */
const DEFAULT_SUBJECT_CLAIMS = [...NAME_IDENTIFIER_CLAIMS, "sub", "client_id"];
/** Claim naming the caller's plan unless `PlanClaim` names another. */
export const DEFAULT_PLAN_CLAIM = "stellaops:plan";
/** The registry token's licence claim, and the caller-token claim unless `LicenseClaim` names another. */
export const LICENSE_CLAIM = "stellaops:license";

/** An authenticated caller. */
export interface Caller {
  /** The `Name` of the Authority that issued the token. */
  readonly authority: string;
  readonly subject: string;
  /**
   * Plan the token decides — its plan claim, else a plan mapping, else the Authority's
   * `DefaultPlan` — if any (the top-level `DefaultPlan` applies otherwise).
   */
  readonly plan?: string;
  readonly license?: string;
  /** The verified token's claims, for rules that name them (`${claim:NAME}`). */
  readonly claims: Readonly<Record<string, unknown>>;
  /** What the token is bound to (`cnf`), if anything. */
  readonly confirmation?: Confirmation;
  /**
   * The token's `exp` and `nbf`, for remembering the verification no longer than it holds.
   * A claims set without a numeric `exp` (only `callerFromClaims` sees one) gets `-Infinity`:
   * valid at no time.
   */
  readonly validity: { readonly expiresAt: number; readonly notBefore?: number };
}

/**
 * The Authority whose `Issuer` is exactly the claims' `iss`, or, given `name`, the Authority of
 * that `Name` provided `iss` is its `Issuer`. Throws the `issuer_unknown` denial otherwise (a
 * missing or non-string `iss` included), and a `RangeError` when no Authority is called `name`.
 */
export function selectAuthority(
  claims: Readonly<Record<string, unknown>>,
  authorities: readonly AuthorityOptions[],
  name?: string,
): AuthorityOptions {
  const { iss } = claims;
  if (name === undefined) {
    const authority = authorities.find((candidate) => candidate.issuer === iss);
    if (authority) return authority;
    throw new Denial(
      "issuer_unknown",
      "the Authority token was issued by an issuer (iss) this service does not trust",
    );
  }
  const authority = authorities.find((candidate) => candidate.name === name);
  if (!authority) {
    throw new RangeError(
      `no Authority is named "${name}" (${authorities.map((known) => known.name).join(", ")})`,
    );
  }
  if (authority.issuer !== iss) {
    throw new Denial(
      "issuer_unknown",
      `the Authority token's issuer (iss) is not the Issuer of Authority "${name}"`,
    );
  }
  return authority;
}

/**
 * The caller a claims set stands for, with every check the service applies to a verified token
 * except the signature and the time claims (`exp`, `nbf`): issuer → Authority (`iss`, see
 * `selectAuthority`), audience, required scopes, subject, plan (claim, mappings, the Authority's
 * default), the licence claim's shape and the `cnf` binding's shape. Throws a `Denial` naming the
 * first check that fails. Pure: no keys, no clock, no I/O.
 */
export function callerFromClaims(
  claims: Readonly<Record<string, unknown>>,
  authorities: readonly AuthorityOptions[],
  name?: string,
): Caller {
  const authority = selectAuthority(claims, authorities, name);
  requireAudience(claims, authority.audiences);
  requireScopes(claims, authority.requiredScopes);
  const { exp, nbf } = claims;
  return {
    authority: authority.name,
    subject: subjectOf(claims, authority.subjectClaim),
    plan: planOf(claims, authority).plan,
    license: optionalString(claims, authority.licenseClaim),
    claims,
    confirmation: confirmationOf(claims),
    validity: {
      expiresAt: typeof exp === "number" ? exp : -Infinity,
      notBefore: typeof nbf === "number" ? nbf : undefined,
    },
  };
}

/** How a caller's plan was decided, for the caller and for tools that explain it. */
export type PlanDecision =
  | { readonly plan: string; readonly by: "claim" }
  | { readonly plan: string; readonly by: "mapping"; readonly mapping: number }
  | { readonly plan: string; readonly by: "authority-default" }
  | { readonly plan?: undefined; readonly by: "none" };

/**
 * The plan `claims` decide under `authority`: the plan claim if present, else the first plan
 * mapping that matches, else the Authority's `DefaultPlan`; `none` leaves it to the top-level
 * `DefaultPlan`. Throws `token_claims_invalid` when the plan claim is not a non-empty string.
 */
export function planOf(
  claims: Readonly<Record<string, unknown>>,
  authority: AuthorityOptions,
): PlanDecision {
  const claimed = optionalString(claims, authority.planClaim);
  if (claimed !== undefined) return { plan: claimed, by: "claim" };
  const mapping = authority.planMappings.findIndex((candidate) =>
    matchesValue(readClaim(claims, candidate.claim), candidate.value)
  );
  if (mapping >= 0) return { plan: authority.planMappings[mapping].plan, by: "mapping", mapping };
  if (authority.defaultPlan !== undefined) {
    return { plan: authority.defaultPlan, by: "authority-default" };
  }
  return { by: "none" };
}

/** A string claim equal to `value`, or an array claim with `value` among its items. */
function matchesValue(claim: unknown, value: string): boolean {
  return Array.isArray(claim) ? claim.includes(value) : claim === value;
}

/** Reads `cnf`; a binding this service cannot check is refused rather than ignored. */
function confirmationOf(claims: Readonly<Record<string, unknown>>): Confirmation | undefined {
  const cnf = claims.cnf;
  if (cnf === undefined) return undefined;
  const invalid = (problem: string) =>
    new Denial("token_claims_invalid", `the Authority token's cnf claim ${problem}`);
  if (typeof cnf !== "object" || cnf === null || Array.isArray(cnf)) {
    throw invalid("is not an object");
  }
  const { jkt, "x5t#S256": x5tS256 } = cnf as Record<string, unknown>;
  for (const value of [jkt, x5tS256]) {
    if (value !== undefined && (typeof value !== "string" || value === "")) {
      throw invalid("has a malformed thumbprint");
    }
  }
  if (jkt === undefined && x5tS256 === undefined) {
    throw invalid("names no confirmation method this service supports (jkt, x5t#S256)");
  }
  return { jkt: jkt as string | undefined, x5tS256: x5tS256 as string | undefined };
}

/** Refuses claims whose `aud` names none of `audiences` (when any are configured). */
export function requireAudience(
  claims: Readonly<Record<string, unknown>>,
  audiences: readonly string[],
): void {
  const aud: unknown[] = [claims.aud ?? []].flat();
  if (audiences.length && !aud.some((value) => audiences.includes(value as string))) {
    throw new Denial(
      "token_audience_mismatch",
      "the Authority token is not intended for this service (aud)",
    );
  }
}

function requireScopes(
  claims: Readonly<Record<string, unknown>>,
  required: readonly string[],
): void {
  const granted = new Set(grantedScopes(claims));
  const missing = required.filter((scope) => !granted.has(scope));
  if (missing.length) {
    throw new Denial(
      "token_scope_missing",
      `the Authority token lacks the required scope ${missing.join(" ")}`,
      { required: missing },
    );
  }
}

function grantedScopes(claims: Readonly<Record<string, unknown>>): string[] {
  const values = [claims.scope, claims.scp].flat();
  return values.flatMap((value) => typeof value === "string" ? value.split(" ") : []);
}

function subjectOf(claims: Readonly<Record<string, unknown>>, named?: ClaimName): string {
  if (named) {
    const value = readClaim(claims, named);
    if (typeof value === "string" && value !== "") return value;
    throw new Denial(
      "token_subject_missing",
      `the Authority token's "${named.source}" claim (its subject) is missing or not a non-empty string`,
    );
  }
  for (const claim of DEFAULT_SUBJECT_CLAIMS) {
    const value = claims[claim];
    if (typeof value === "string" && value !== "") return value;
  }
  throw new Denial(
    "token_subject_missing",
    "the Authority token names no subject (nameidentifier, sub or client_id)",
  );
}

function optionalString(
  claims: Readonly<Record<string, unknown>>,
  claim: ClaimName,
): string | undefined {
  const value = readClaim(claims, claim);
  if (value === undefined) return undefined;
  if (typeof value !== "string" || value === "") {
    throw new Denial(
      "token_claims_invalid",
      `the Authority token's "${claim.source}" claim must be a non-empty string`,
    );
  }
  return value;
}
