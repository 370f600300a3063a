/**
 * Verifies a caller's Authority-issued JWT and turns it into a `Caller`.
 *
 * Several Authorities may be trusted; a token's `iss` selects its Authority by exact match before
 * any signature work, and the token is then checked only with that Authority's keys and rules.
 * Every check is explicit: asymmetric signature with an allow-listed algorithm, `iss`, `aud`,
 * `exp` (required) and `nbf` with clock skew, required scopes, and the subject, plan and licence
 * claims. Each failure maps to its own denial reason.
 *
 * `callerFromClaims` is the claims half on its own (everything but the signature and the time
 * claims), so a tool can say what the service would make of a claims set; `authenticate` uses it
 * after the signature check, so there is one implementation.
 *
 * @module
 */

import {
  decodeJwt,
  decodeProtectedHeader,
  errors,
  type JWTPayload,
  jwtVerify,
  type JWTVerifyGetKey,
} from "jose";
import { type ClaimName, readClaim } from "../claims.ts";
import { Denial, type DenialReason } from "../denial.ts";
import type { Confirmation } from "./sender.ts";
import { ASYMMETRIC_JWS_ALGORITHMS } from "../jws_algorithms.ts";
import type { AuthorityKeyLocation } from "./authority_keys.ts";
import type { DpopOptions } from "./dpop.ts";
import type { SenderConstraint } from "./sender.ts";

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

/**
 * The refusals that need no signature check: an unreadable token, a disallowed algorithm, an
 * issuer no Authority has (`iss` selects the token's Authority, which is returned), the wrong
 * audience, not yet valid, expired. A token passing them still goes through every check of
 * `authenticate`; one failing them is refused with the reason `authenticate` would give, before
 * any signature work and before the client's verification budget is consulted.
 */
export function precheck(
  token: string,
  authorities: readonly AuthorityOptions[],
  now: Date,
): AuthorityOptions {
  let alg: unknown;
  let payload: JWTPayload;
  try {
    alg = decodeProtectedHeader(token).alg;
    payload = decodeJwt(token);
  } catch {
    throw denialFor(undefined);
  }
  if (typeof alg !== "string" || alg === "") throw denialFor(undefined);
  if (!ASYMMETRIC_JWS_ALGORITHMS.includes(alg)) {
    throw denialFor(new errors.JOSEAlgNotAllowed("alg not allowed"));
  }
  // The Authority decides whose keys may verify the token, so it is chosen first, always.
  const authority = selectAuthority(payload, authorities);
  // A missing exp is jwtVerify's first complaint; leave the order of those to it.
  if (payload.exp === undefined) return authority;
  requireAudience(payload, authority.audiences);
  // jwtVerify's own arithmetic: whole seconds, the tolerance on both sides.
  const seconds = Math.floor(now.getTime() / 1000);
  const { nbf, exp } = payload;
  if (Number.isFinite(nbf) && nbf! > seconds + authority.clockSkewSeconds) {
    throw new Denial(...CLAIM_FAILURES.nbf);
  }
  if (Number.isFinite(exp) && exp! <= seconds - authority.clockSkewSeconds) {
    throw denialFor(new errors.JWTExpired("expired", payload));
  }
  return authority;
}

/**
 * Verifies `token` with `authority`'s keys (`getKey`) at time `now`, then reads it with
 * `callerFromClaims` (so a token of another issuer is `issuer_unknown`).
 */
export async function authenticate(
  token: string,
  getKey: JWTVerifyGetKey,
  authority: AuthorityOptions,
  now: Date,
): Promise<Caller> {
  let payload: JWTPayload;
  try {
    // Issuer and audience are callerFromClaims' to check, once, for tools and service alike.
    ({ payload } = await jwtVerify(token, getKey, {
      algorithms: [...ASYMMETRIC_JWS_ALGORITHMS],
      clockTolerance: authority.clockSkewSeconds,
      currentDate: now,
      requiredClaims: ["exp"],
    }));
  } catch (error) {
    throw error instanceof Denial ? error : denialFor(error);
  }
  for (const claim of ["exp", "nbf", "iat"] as const) {
    // JSON allows 1e400, which parses to Infinity and would never expire.
    if (payload[claim] !== undefined && !Number.isFinite(payload[claim])) {
      throw new Denial(
        "token_claims_invalid",
        `the Authority token's "${claim}" claim is not a finite number`,
      );
    }
  }
  return callerFromClaims(payload, [authority]);
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

function denialFor(error: unknown): Denial {
  if (error instanceof errors.JWTExpired) {
    return new Denial("token_expired", "the Authority token has expired; obtain a new one");
  }
  if (error instanceof errors.JWTClaimValidationFailed) {
    // An nbf that is not a number is malformed, not "not yet valid".
    const malformedTime = error.claim === "nbf" && error.reason !== "check_failed";
    const known = malformedTime ? undefined : CLAIM_FAILURES[error.claim];
    const [reason, message] = known ??
      [
        "token_claims_invalid",
        `the Authority token's "${error.claim}" claim is missing or malformed`,
      ];
    return new Denial(reason, message);
  }
  if (error instanceof errors.JOSEAlgNotAllowed) {
    return new Denial(
      "token_algorithm_not_allowed",
      `the Authority token must be signed with one of ${ASYMMETRIC_JWS_ALGORITHMS.join(", ")}`,
    );
  }
  if (
    error instanceof errors.JWKSNoMatchingKey || error instanceof errors.JWKSMultipleMatchingKeys
  ) {
    return new Denial(
      "token_key_unknown",
      "the Authority token was signed with a key the Authority does not publish",
    );
  }
  if (error instanceof errors.JWSSignatureVerificationFailed) {
    return new Denial("token_signature_invalid", "the Authority token's signature is invalid");
  }
  return new Denial("token_malformed", "the credentials are not a valid Authority token (JWT)");
}

const CLAIM_FAILURES: Record<string, [DenialReason, string]> = {
  aud: ["token_audience_mismatch", "the Authority token is not intended for this service (aud)"],
  nbf: ["token_not_yet_valid", "the Authority token is not valid yet (nbf); check clocks"],
};

function requireAudience(
  claims: Readonly<Record<string, unknown>>,
  audiences: readonly string[],
): void {
  const aud: unknown[] = [claims.aud ?? []].flat();
  if (audiences.length && !aud.some((value) => audiences.includes(value as string))) {
    throw new Denial(...CLAIM_FAILURES.aud);
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
