/**
 * Response rendering: registry error bodies, `WWW-Authenticate` challenges, token bodies.
 *
 * Every registry error is rendered from a row of `DENIAL_REASONS` or `ROUTE_ERRORS`, so none
 * is written out by hand elsewhere.
 *
 * @module
 */

import { formatScope } from "../authz/scope.ts";
import type { Denial } from "../denial.ts";
import type { IssuedToken } from "../issue.ts";
import { ROUTE_ERRORS, type RouteError, type RouteErrorFacts } from "./route_errors.ts";

/** Headers every token-endpoint answer carries: tokens and errors must never be cached. */
const NO_STORE = { "cache-control": "no-store", pragma: "no-cache" };

/** A body in the registry's error form: `{"errors":[{code,message,detail}]}`. */
function registryError(
  status: number,
  code: string,
  message: string,
  detail?: Readonly<Record<string, unknown>>,
  headers: Record<string, string> = {},
): Response {
  return Response.json({ errors: [{ code, message, ...(detail ? { detail } : {}) }] }, {
    status,
    headers: { ...NO_STORE, ...headers },
  });
}

/** What a `WWW-Authenticate` challenge says besides the denial itself. */
export interface ChallengeContext {
  readonly realm: string;
  readonly service?: string;
  /** Every token must be DPoP-bound, so rows whose challenge is `preferred` challenge with DPoP. */
  readonly preferDpop: boolean;
  /** `algs` of a DPoP challenge. */
  readonly dpopAlgorithms: readonly string[];
}

/**
 * Renders a denial as its reason's row says: status, registry error body, a `WWW-Authenticate`
 * challenge when the row declares one, `Retry-After` when the row declares it.
 */
export function denialResponse(denial: Denial, context: ChallengeContext): Response {
  const { status, code, challenge, challengeError, retryAfter } = denial.rendering;
  const headers: Record<string, string> = {};
  // Echoed in the body too: clients that only read the JSON learn when to come back.
  const retry = retryAfter ? { retry_after: denial.retryAfterSeconds } : {};
  if (retryAfter) headers["retry-after"] = String(denial.retryAfterSeconds);
  if (challenge) {
    headers["www-authenticate"] = challengeHeader(
      context,
      challenge === "dpop" || context.preferDpop,
      challengeError,
      denial.message,
    );
  }
  return registryError(
    status,
    code,
    denial.message,
    { reason: denial.reason, ...retry, ...denial.detail },
    headers,
  );
}

/**
 * Renders a route error as its row says; `allow` is given exactly for rows that declare it
 * (the type sees to that), and becomes the `Allow` header.
 */
export function routeErrorResponse<E extends RouteError>(
  error: E,
  ...[allow]: RouteErrorFacts<E>
): Response {
  const { status, code, message } = ROUTE_ERRORS[error];
  return registryError(status, code, message, undefined, allow === undefined ? {} : { allow });
}

/** Renders a minted token in the shape docker, podman, skopeo and containerd expect. */
export function tokenResponse(issued: IssuedToken): Response {
  return Response.json({
    token: issued.token,
    access_token: issued.token,
    expires_in: issued.expiresIn,
    issued_at: issued.issuedAt.toISOString(),
  }, { headers: NO_STORE });
}

/** Renders a minted token as distribution's OAuth2 (`POST /token`) response; no refresh token. */
export function oauthTokenResponse(issued: IssuedToken): Response {
  return Response.json({
    access_token: issued.token,
    scope: issued.access.map(formatScope).join(" "),
    expires_in: issued.expiresIn,
    issued_at: issued.issuedAt.toISOString(),
  }, { headers: NO_STORE });
}

function challengeHeader(
  context: ChallengeContext,
  dpop: boolean,
  error: string | undefined,
  description: string,
): string {
  const params = [`realm=${quote(context.realm)}`];
  if (context.service) params.push(`service=${quote(context.service)}`);
  // A Bearer challenge names no error: distribution's client code (docker, containers/image)
  // turns `invalid_token` or `insufficient_scope` into an error of its own and prints it beside
  // the body's, so the message would show twice. DPoP clients need theirs (`use_dpop_nonce`).
  if (error && dpop) {
    params.push(`error=${quote(error)}`, `error_description=${quote(description)}`);
  }
  if (dpop) params.push(`algs=${quote(context.dpopAlgorithms.join(" "))}`);
  return `${dpop ? "DPoP" : "Bearer"} ${params.join(",")}`;
}

/** RFC 7235 quoted-string, limited to the characters RFC 6750 allows in its attributes. */
function quote(value: string): string {
  return `"${value.replace(/[^\x20\x21\x23-\x5b\x5d-\x7e]/g, "'")}"`;
}
