/**
 * Verifies a caller's Authority-issued JWT and turns it into a `Caller`.
 *
 * Several Authorities may be trusted; a token's `iss` selects its Authority by exact match before
 * any signature work (`precheck`), and the token is then checked only with that Authority's keys
 * and rules. Here: an asymmetric signature with an allow-listed algorithm, `exp` (required) and
 * `nbf` with clock skew; `caller.ts` then checks `iss`, `aud`, required scopes and the subject,
 * plan and licence claims. Each failure maps to its own denial reason.
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
import { ASYMMETRIC_JWS_ALGORITHMS } from "../jws_algorithms.ts";
import {
  type AuthorityOptions,
  type Caller,
  callerFromClaims,
  requireAudience,
  selectAuthority,
} from "./caller.ts";

/** What a token's header and claims say, read without any check; unreadable parts are absent. */
export interface UnverifiedToken {
  /** The protected header's `alg`. */
  readonly alg?: unknown;
  readonly payload?: JWTPayload;
}

/** Reads `token`'s `alg` and claims without checking anything (each part on its own). */
export function readUnverified(token: string): UnverifiedToken {
  return {
    alg: readOrUndefined(() => decodeProtectedHeader(token).alg),
    payload: readOrUndefined(() => decodeJwt(token)),
  };
}

function readOrUndefined<T>(read: () => T): T | undefined {
  try {
    return read();
  } catch {
    return undefined;
  }
}

/**
 * The refusals that need no signature check: an unreadable token, a disallowed algorithm, an
 * issuer no Authority has (`iss` selects the token's Authority, which is returned), the wrong
 * audience, not yet valid, expired. A token passing them still goes through every check of
 * `authenticate`; one failing them is refused with the reason `authenticate` would give, before
 * any signature work and before the client's verification budget is consulted. `unverified` is
 * `token` as `readUnverified` reads it, for a caller that has read it already.
 */
export function precheck(
  token: string,
  authorities: readonly AuthorityOptions[],
  now: Date,
  unverified: UnverifiedToken = readUnverified(token),
): AuthorityOptions {
  const { alg, payload } = unverified;
  if (payload === undefined || typeof alg !== "string" || alg === "") throw denialFor(undefined);
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
  nbf: ["token_not_yet_valid", "the Authority token is not valid yet (nbf); check clocks"],
};
