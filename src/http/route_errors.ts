/**
 * The answers to requests that never reach the token pipeline: a path the service does not
 * have, a method a path does not answer, a handler that threw, a request the transport could
 * not turn into a `Request`. Like denials they are registry errors whose every property comes
 * from a closed table, so no status, code or message is written out where they are sent.
 *
 * Why a sibling table and not rows of `DENIAL_REASONS`: they are not refusals of a token
 * request. They are not counted in `registry_token_rejected_total` (its label set is the
 * denial reasons, as documented in the README's reason table), their bodies carry no
 * `detail.reason`, they never challenge, and no pipeline stage may throw them — so they live
 * here in the HTTP layer, out of the pipeline's vocabulary.
 *
 * @module
 */

/** How a route error is presented to the client. */
interface RouteErrorRendering {
  /** HTTP status of the response. */
  readonly status: 400 | 404 | 405 | 500;
  /** Registry error code (`errors[0].code`). */
  readonly code: "INVALID_REQUEST" | "NOT_FOUND" | "UNSUPPORTED" | "UNKNOWN";
  /** `errors[0].message`: fixed, since nothing about the request is worth echoing. */
  readonly message: string;
  /** Sends `Allow` with the methods the path answers (RFC 9110 requires it on a 405). */
  readonly allow?: true;
}

/** The rows with their literal types, from which the errors that need `Allow` are computed. */
const ROWS = {
  not_found: { status: 404, code: "NOT_FOUND", message: "not found" },
  method_not_allowed: {
    status: 405,
    code: "UNSUPPORTED",
    message: "method not allowed",
    allow: true,
  },
  /** Logged with this name as its reason, next to the error it stands for. */
  internal_error: { status: 500, code: "UNKNOWN", message: "internal error; see the service log" },
  /** A malformed Host or target, found by the adapter before any route is chosen. */
  request_target_malformed: {
    status: 400,
    code: "INVALID_REQUEST",
    message: "malformed request target or Host",
  },
} as const satisfies Record<string, RouteErrorRendering>;

/** A member of the closed list of route errors. */
export type RouteError = keyof typeof ROWS;

/**
 * Every answer to a request that never reaches the pipeline; not a metric label. Each row reads
 * as a whole `RouteErrorRendering`, so any field can be asked of any error.
 */
export const ROUTE_ERRORS: { readonly [E in RouteError]: RouteErrorRendering } = ROWS;

/** The route errors whose row declares `allow`. */
type AllowingRouteError = {
  [E in RouteError]: (typeof ROWS)[E] extends { allow: true } ? E : never;
}[RouteError];

/**
 * What a route error takes besides its name: the `Allow` value — required exactly when its
 * row declares `allow`, absent otherwise.
 */
export type RouteErrorFacts<E extends RouteError> = E extends AllowingRouteError ? [allow: string]
  : [allow?: undefined];
