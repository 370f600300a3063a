/**
 * The one type every pipeline stage uses to refuse a token request.
 *
 * A denial's `reason` decides everything else about it — HTTP status, registry error code,
 * whether and how the client is challenged (`WWW-Authenticate`), whether it is told when to
 * retry (`Retry-After`), whether the refusal is the caller token's own fault, and the metric
 * label — through the closed table below, so the response, the metric and the log line can
 * never disagree, and the HTTP layer only reads the table.
 *
 * @module
 */

/** RFC 6750 / RFC 9449 `error` attribute of a `WWW-Authenticate` challenge. */
type ChallengeError =
  | "invalid_request"
  | "invalid_token"
  | "insufficient_scope"
  | "invalid_dpop_proof"
  | "use_dpop_nonce";

/**
 * Whether the response challenges the client, and with which scheme. An `error` attribute only
 * exists inside a challenge, so a row cannot name one without declaring the challenge.
 */
type Challenge =
  | {
    /**
     * `dpop`: always `DPoP` (RFC 9449) — the fix is a proof, whatever is configured.
     * `preferred`: `DPoP` when every token must be DPoP-bound, else `Bearer`.
     */
    readonly challenge: "dpop" | "preferred";
    /** The challenge's `error` attribute; none means "authenticate" (no credentials came). */
    readonly challengeError?: ChallengeError;
  }
  | { readonly challenge?: undefined; readonly challengeError?: undefined };

/** How a reason is presented to the client. */
type ReasonRendering = Challenge & {
  /** HTTP status of the response. */
  readonly status: 400 | 401 | 403 | 408 | 414 | 429 | 431 | 503;
  /** Registry error code (`errors[0].code`). */
  readonly code: "INVALID_REQUEST" | "UNAUTHORIZED" | "DENIED" | "UNAVAILABLE" | "TOOMANYREQUESTS";
  /**
   * The refusal passes: the response says when to try again (`Retry-After`, echoed as
   * `errors[0].detail.retry_after`), so every denial of this reason must carry the seconds.
   */
  readonly retryAfter?: true;
  /**
   * A property of the caller token itself: the same token is refused the same way every time,
   * so the refusal is remembered (no second signature check) and, when a signature check
   * found it, charged to the client's verification budget.
   */
  readonly final?: boolean;
  /**
   * The caller presented credentials and they failed authentication (a bad, expired, unknown or
   * unbound token, a bad proof): audited as `auth.failed`, what compliance asks for. Not when no
   * credentials came, nor when the service itself could not decide.
   */
  readonly failedLogin?: boolean;
};

const badRequest = { status: 400, code: "INVALID_REQUEST" } as const satisfies ReasonRendering;
const invalidCredentials = {
  status: 401,
  code: "UNAUTHORIZED",
  challenge: "preferred",
  challengeError: "invalid_token",
  failedLogin: true,
} as const satisfies ReasonRendering;
const invalidToken = { ...invalidCredentials, final: true } as const satisfies ReasonRendering;
const forbidden = { status: 403, code: "DENIED" } as const satisfies ReasonRendering;
const unavailable = { status: 503, code: "UNAVAILABLE" } as const satisfies ReasonRendering;
const invalidProof = {
  status: 401,
  code: "UNAUTHORIZED",
  challenge: "dpop",
  challengeError: "invalid_dpop_proof",
  failedLogin: true,
} as const satisfies ReasonRendering;

/** The rows with their literal types, from which the reasons that need seconds are computed. */
const ROWS = {
  // parse
  service_missing: badRequest,
  request_invalid: badRequest,
  grant_type_unsupported: badRequest,
  uri_too_long: { status: 414, code: "INVALID_REQUEST" },
  headers_too_large: { status: 431, code: "INVALID_REQUEST" },
  rate_limited: { status: 429, code: "TOOMANYREQUESTS", retryAfter: true },
  body_timeout: { status: 408, code: "INVALID_REQUEST" },
  request_timeout: { ...unavailable, retryAfter: true },
  scope_invalid: badRequest,
  // authenticate
  credentials_missing: { status: 401, code: "UNAUTHORIZED", challenge: "preferred" },
  credentials_malformed: { ...invalidCredentials, challengeError: "invalid_request" },
  token_malformed: invalidToken,
  issuer_unknown: invalidToken,
  token_algorithm_not_allowed: invalidToken,
  token_key_unknown: invalidCredentials,
  token_signature_invalid: invalidToken,
  token_expired: invalidToken,
  token_not_yet_valid: invalidCredentials,
  token_audience_mismatch: invalidToken,
  token_claims_invalid: invalidToken,
  token_subject_missing: invalidToken,
  token_scope_missing: {
    ...forbidden,
    challenge: "preferred",
    challengeError: "insufficient_scope",
    final: true,
  },
  authority_unavailable: unavailable,
  // sender constraint (RFC 9449 DPoP, RFC 8705 mTLS)
  token_unbound: invalidCredentials,
  dpop_token_as_bearer: { ...invalidCredentials, challenge: "dpop" },
  dpop_proof_missing: invalidProof,
  dpop_proof_invalid: invalidProof,
  dpop_proof_replayed: invalidProof,
  dpop_proof_binding_mismatch: invalidProof,
  // The usual first answer to a DPoP client, which retries with the nonce: no failure.
  dpop_nonce_required: { ...invalidProof, challengeError: "use_dpop_nonce", failedLogin: false },
  dpop_replay_cache_full: unavailable,
  state_unavailable: { ...unavailable, retryAfter: true },
  dpop_not_configured: invalidCredentials,
  mtls_certificate_missing: invalidCredentials,
  mtls_certificate_mismatch: invalidCredentials,
  mtls_proxy_untrusted: invalidCredentials,
  // authorize
  service_not_allowed: forbidden,
  plan_unknown: forbidden,
  license_revoked: forbidden,
  access_denied: forbidden,
} as const satisfies Record<string, ReasonRendering>;

/** A member of the closed list of denial reasons. */
export type DenialReason = keyof typeof ROWS;

/**
 * Every reason a token request can be refused for; metric labels come only from here. Each row
 * reads as a whole `ReasonRendering`, so any field can be asked of any reason.
 */
export const DENIAL_REASONS: { readonly [R in DenialReason]: ReasonRendering } = ROWS;

/** Extra, non-secret facts for the client, merged into `errors[0].detail`. */
type DenialDetail = Readonly<Record<string, unknown>>;

/** The reasons whose row declares `retryAfter`. */
type RetryLaterReason = {
  [R in DenialReason]: (typeof ROWS)[R] extends { retryAfter: true } ? R : never;
}[DenialReason];

/**
 * What a denial of `R` takes after its message: optional detail, then the seconds of its
 * `Retry-After` — required exactly when the row of `R` declares `retryAfter`, absent otherwise.
 */
type DenialFacts<R extends DenialReason> = R extends RetryLaterReason
  ? [detail: DenialDetail, retryAfterSeconds: number]
  : [detail?: DenialDetail, retryAfterSeconds?: undefined];

/**
 * A refused token request: thrown by a pipeline stage, rendered once by the HTTP layer.
 *
 * `R` only types the constructor's arguments (a `Retry-After` reason needs its seconds).
 */
export class Denial<R extends DenialReason = DenialReason> extends Error {
  override readonly name = "Denial";
  /** Machine-readable reason: the metric label, the log field and `errors[0].detail.reason`. */
  readonly reason: DenialReason;
  /** Extra, non-secret facts for the client (e.g. which scopes were refused). */
  readonly detail: DenialDetail;
  /** When the client may try again, in seconds; set exactly for reasons with `retryAfter`. */
  readonly retryAfterSeconds?: number;

  /**
   * @param reason why the request is refused
   * @param message what the client should fix, shown to users by docker/skopeo/podman
   * @param facts extra, non-secret facts merged into `errors[0].detail`; then, for a reason
   *   with `retryAfter`, the seconds after which the client may try again
   */
  constructor(reason: R, message: string, ...[detail = {}, retryAfterSeconds]: DenialFacts<R>) {
    super(message);
    this.reason = reason;
    this.detail = detail;
    this.retryAfterSeconds = retryAfterSeconds;
  }

  /** Everything the table says about this denial's reason: status, code, challenge, retry. */
  get rendering(): ReasonRendering {
    return DENIAL_REASONS[this.reason];
  }
}
