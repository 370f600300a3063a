/**
 * The one type every pipeline stage uses to refuse a token request.
 *
 * A denial's `reason` decides everything else about it — HTTP status, registry error code,
 * the `WWW-Authenticate` error and the metric label — through the closed table below, so the
 * response, the metric and the log line can never disagree.
 *
 * @module
 */

/** How a reason is presented to the client. */
interface ReasonRendering {
  /** HTTP status of the response. */
  readonly status: 400 | 401 | 403 | 408 | 414 | 429 | 431 | 503;
  /** Registry error code (`errors[0].code`). */
  readonly code: "INVALID_REQUEST" | "UNAUTHORIZED" | "DENIED" | "UNAVAILABLE" | "TOOMANYREQUESTS";
  /** RFC 6750 / RFC 9449 `error` attribute of the `WWW-Authenticate` challenge, if any. */
  readonly challengeError?:
    | "invalid_request"
    | "invalid_token"
    | "insufficient_scope"
    | "invalid_dpop_proof"
    | "use_dpop_nonce";
  /** Challenge with the `DPoP` scheme (RFC 9449) instead of `Bearer`. */
  readonly dpopChallenge?: boolean;
  /**
   * A property of the caller token itself: the same token is refused the same way every time,
   * so the refusal is remembered (no second signature check) and, when a signature check
   * found it, charged to the client's verification budget.
   */
  readonly final?: boolean;
}

const badRequest: ReasonRendering = { status: 400, code: "INVALID_REQUEST" };
const invalidCredentials: ReasonRendering = {
  status: 401,
  code: "UNAUTHORIZED",
  challengeError: "invalid_token",
};
const invalidToken: ReasonRendering = { ...invalidCredentials, final: true };
const forbidden: ReasonRendering = { status: 403, code: "DENIED" };
const invalidProof: ReasonRendering = {
  status: 401,
  code: "UNAUTHORIZED",
  challengeError: "invalid_dpop_proof",
  dpopChallenge: true,
};

/** Every reason a token request can be refused for; metric labels come only from here. */
export const DENIAL_REASONS = {
  // parse
  service_missing: badRequest,
  request_invalid: badRequest,
  grant_type_unsupported: badRequest,
  uri_too_long: { status: 414, code: "INVALID_REQUEST" },
  headers_too_large: { status: 431, code: "INVALID_REQUEST" },
  rate_limited: { status: 429, code: "TOOMANYREQUESTS" },
  body_timeout: { status: 408, code: "INVALID_REQUEST" },
  request_timeout: { status: 503, code: "UNAVAILABLE" },
  scope_invalid: badRequest,
  // authenticate
  credentials_missing: { status: 401, code: "UNAUTHORIZED" },
  credentials_malformed: { ...invalidCredentials, challengeError: "invalid_request" },
  token_malformed: invalidToken,
  token_algorithm_not_allowed: invalidToken,
  token_key_unknown: invalidCredentials,
  token_signature_invalid: invalidToken,
  token_expired: invalidToken,
  token_not_yet_valid: invalidCredentials,
  token_issuer_mismatch: invalidToken,
  token_audience_mismatch: invalidToken,
  token_claims_invalid: invalidToken,
  token_subject_missing: invalidToken,
  token_scope_missing: { ...forbidden, challengeError: "insufficient_scope", final: true },
  authority_unavailable: { status: 503, code: "UNAVAILABLE" },
  // sender constraint (RFC 9449 DPoP, RFC 8705 mTLS)
  token_unbound: invalidCredentials,
  dpop_token_as_bearer: { ...invalidCredentials, dpopChallenge: true },
  dpop_proof_missing: invalidProof,
  dpop_proof_invalid: invalidProof,
  dpop_proof_replayed: invalidProof,
  dpop_proof_binding_mismatch: invalidProof,
  dpop_nonce_required: { ...invalidProof, challengeError: "use_dpop_nonce" },
  dpop_replay_cache_full: { status: 503, code: "UNAVAILABLE" },
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
export type DenialReason = keyof typeof DENIAL_REASONS;

/** A refused token request: thrown by a pipeline stage, rendered once by the HTTP layer. */
export class Denial extends Error {
  override readonly name = "Denial";
  /** Machine-readable reason: the metric label, the log field and `errors[0].detail.reason`. */
  readonly reason: DenialReason;
  /** Extra, non-secret facts for the client (e.g. which scopes were refused). */
  readonly detail: Readonly<Record<string, unknown>>;

  /**
   * @param reason why the request is refused
   * @param message what the client should fix, shown to users by docker/skopeo/podman
   * @param detail extra, non-secret facts merged into `errors[0].detail`
   */
  constructor(reason: DenialReason, message: string, detail: Record<string, unknown> = {}) {
    super(message);
    this.reason = reason;
    this.detail = detail;
  }

  /** HTTP status, registry code and challenge error for this denial. */
  get rendering(): ReasonRendering {
    return DENIAL_REASONS[this.reason];
  }
}
