/**
 * Verifies a caller's Authority-issued JWT and turns it into a `Caller`.
 *
 * Every check is explicit: asymmetric signature with an allow-listed algorithm, `iss`, `aud`,
 * `exp` (required) and `nbf` with clock skew, required scopes, and the subject, plan and licence
 * claims' types. Each failure maps to its own denial reason.
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
import { Denial, type DenialReason } from "../denial.ts";
import type { Confirmation } from "./sender.ts";
import { ASYMMETRIC_JWS_ALGORITHMS } from "../jws_algorithms.ts";
import type { AuthorityKeyLocation } from "./authority_keys.ts";
import type { DpopOptions } from "./dpop.ts";
import type { SenderConstraint } from "./sender.ts";

/** How caller (Authority-issued) tokens are checked. */
export interface AuthorityOptions {
  readonly issuer: string;
  readonly keys: AuthorityKeyLocation;
  /** The caller token's `aud` must contain one of these; empty means not checked. */
  readonly audiences: readonly string[];
  readonly requiredScopes: readonly string[];
  readonly clockSkewSeconds: number;
  readonly senderConstraint: SenderConstraint;
  readonly dpop: DpopOptions;
  /** The caller-token claim naming the caller's plan. */
  readonly planClaim: string;
  /** Most verified caller tokens remembered (0: verify every time). */
  readonly tokenCacheSize: number;
}

/** .NET's name-identifier claim, preferred as the subject when the Authority sets it. */
const NAME_IDENTIFIER_CLAIMS = [
  "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/nameidentifier",
  "nameidentifier",
];
/** Claim naming the caller's plan unless `Authority:PlanClaim` names another. */
export const DEFAULT_PLAN_CLAIM = "stellaops:plan";
/** Claim carrying the caller's licence identifier. */
export const LICENSE_CLAIM = "stellaops:license";

/** An authenticated caller. */
export interface Caller {
  readonly subject: string;
  /** Plan named by the token, if any (the default plan applies otherwise). */
  readonly plan?: string;
  readonly license?: string;
  /** The verified token's claims, for rules that name them (`${claim:NAME}`). */
  readonly claims: Readonly<Record<string, unknown>>;
  /** What the token is bound to (`cnf`), if anything. */
  readonly confirmation?: Confirmation;
  /** The token's `exp` and `nbf`, for remembering the verification no longer than it holds. */
  readonly validity: { readonly expiresAt: number; readonly notBefore?: number };
}

/**
 * The refusals that need no signature check, in the order `jwtVerify` would find them: an
 * unreadable token, a disallowed algorithm, another issuer, not yet valid, expired. A token
 * passing them still goes through every check of `authenticate`; one failing them is refused
 * with the reason `authenticate` would give, before any signature work.
 */
export function precheck(token: string, authority: AuthorityOptions, now: Date): void {
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
  // A missing exp is jwtVerify's first complaint; leave the order of those to it.
  if (payload.exp === undefined) return;
  if (payload.iss !== authority.issuer) throw new Denial(...CLAIM_FAILURES.iss);
  const { audiences } = authority;
  const aud = [payload.aud ?? []].flat();
  if (audiences.length && !aud.some((value) => audiences.includes(value))) {
    throw new Denial(...CLAIM_FAILURES.aud);
  }
  // jwtVerify's own arithmetic: whole seconds, the tolerance on both sides.
  const seconds = Math.floor(now.getTime() / 1000);
  const { nbf, exp } = payload;
  if (Number.isFinite(nbf) && nbf! > seconds + authority.clockSkewSeconds) {
    throw new Denial(...CLAIM_FAILURES.nbf);
  }
  if (Number.isFinite(exp) && exp! <= seconds - authority.clockSkewSeconds) {
    throw denialFor(new errors.JWTExpired("expired", payload));
  }
}

/** Verifies `token` against the Authority's keys and policy at time `now`. */
export async function authenticate(
  token: string,
  getKey: JWTVerifyGetKey,
  authority: AuthorityOptions,
  now: Date,
): Promise<Caller> {
  let payload: JWTPayload;
  try {
    ({ payload } = await jwtVerify(token, getKey, {
      algorithms: [...ASYMMETRIC_JWS_ALGORITHMS],
      issuer: authority.issuer,
      audience: authority.audiences.length ? [...authority.audiences] : undefined,
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
  requireScopes(payload, authority.requiredScopes);
  return {
    subject: subjectOf(payload),
    plan: optionalString(payload, authority.planClaim),
    license: optionalString(payload, LICENSE_CLAIM),
    claims: payload,
    confirmation: confirmationOf(payload),
    // jwtVerify has checked both are numbers (exp is required).
    validity: { expiresAt: payload.exp!, notBefore: payload.nbf },
  };
}

/** Reads `cnf`; a binding this service cannot check is refused rather than ignored. */
function confirmationOf(payload: JWTPayload): Confirmation | undefined {
  const cnf = payload.cnf;
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
    // An nbf that is not a number is malformed, not "not yet valid"; a missing or odd iss or
    // aud is as untrusted as a wrong one.
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
  iss: ["token_issuer_mismatch", "the Authority token was issued by an untrusted issuer"],
  aud: ["token_audience_mismatch", "the Authority token is not intended for this service (aud)"],
  nbf: ["token_not_yet_valid", "the Authority token is not valid yet (nbf); check clocks"],
};

function requireScopes(payload: JWTPayload, required: readonly string[]): void {
  const granted = new Set(grantedScopes(payload));
  const missing = required.filter((scope) => !granted.has(scope));
  if (missing.length) {
    throw new Denial(
      "token_scope_missing",
      `the Authority token lacks the required scope ${missing.join(" ")}`,
      { required: missing },
    );
  }
}

function grantedScopes(payload: JWTPayload): string[] {
  const values = [payload.scope, payload.scp].flat();
  return values.flatMap((value) => typeof value === "string" ? value.split(" ") : []);
}

function subjectOf(payload: JWTPayload): string {
  const candidates = [...NAME_IDENTIFIER_CLAIMS, "sub", "client_id"];
  for (const claim of candidates) {
    const value = payload[claim];
    if (typeof value === "string" && value !== "") return value;
  }
  throw new Denial(
    "token_subject_missing",
    "the Authority token names no subject (nameidentifier, sub or client_id)",
  );
}

function optionalString(payload: JWTPayload, claim: string): string | undefined {
  const value = payload[claim];
  if (value === undefined) return undefined;
  if (typeof value !== "string" || value === "") {
    throw new Denial(
      "token_claims_invalid",
      `the Authority token's "${claim}" claim must be a non-empty string`,
    );
  }
  return value;
}
