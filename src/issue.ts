/**
 * The token pipeline: parse → authenticate → authorize → mint.
 *
 * Each stage either returns a value or throws a `Denial`; this function never touches HTTP.
 * What each stage learned is written to an `Audit` record so the request log can say who asked
 * for what even when the request is refused.
 *
 * @module
 */

import { authenticate, precheck, readUnverified } from "./authn/authenticate.ts";
import { type Caller } from "./authn/caller.ts";
import type { AuthorityKeys } from "./authn/authority_keys.ts";
import { authorityTokenOf, type CallerCredential } from "./authn/credentials.ts";
import { type DpopVerifier, recordProof } from "./authn/dpop.ts";
import { confirmSender, type SenderEvidence } from "./authn/sender.ts";
import { explainAuthorization, grantOf } from "./authz/authorize.ts";
import { type DecisionSummary, summarizeDecisions } from "./authz/explain.ts";
import type { AccessEntry } from "./authz/plan.ts";
import { formatScope, parseScopes } from "./authz/scope.ts";
import type { AuthorityOptions } from "./authn/caller.ts";
import type { PolicyOptions } from "./authz/authorize.ts";
import { Denial } from "./denial.ts";
import { registryClaims, type TokenSigner } from "./token/mint.ts";
import type { MintedToken, MintedTokenCache } from "./token/reuse.ts";
import type { VerifiedTokenCache } from "./authn/verified_tokens.ts";

/** What a token request carries, already taken out of its HTTP form. */
export interface TokenRequestInput {
  readonly service: string | undefined;
  /** Every `scope` value, in order (each may hold several space-separated scopes). */
  readonly scopes: readonly string[];
  readonly credential: CallerCredential;
  /** What the request offers as proof of possession, for sender-constrained tokens. */
  readonly sender: SenderEvidence;
}

/**
 * Runs the one expensive step an unauthenticated caller can trigger — a signature check of a
 * caller token that is not cached — within the client's verification budget.
 */
export type VerificationGuard = <T>(verify: () => Promise<T>) => Promise<T>;

/** Facts gathered along the pipeline for the request log (never a credential). */
export interface Audit {
  service?: string;
  requested?: string[];
  /** The caller token's `iss` as it claims it, before any check (unverified). */
  issuer?: string;
  /** The `Name` of the Authority the caller token's `iss` selected. */
  authority?: string;
  subject?: string;
  plan?: string;
  license?: string;
  /** Whether the caller token was found in the verified-token cache (no signature check). */
  cached?: boolean;
  granted?: string[];
  /** Per scope, what decided its granted and its refused actions (rule, or none matched). */
  decisions?: DecisionSummary[];
  /** Whether an identical token minted recently was handed out again instead of a new one. */
  reused?: boolean;
  /** The registry token's `jti` and `exp` (never the token itself). */
  jti?: string;
  exp?: number;
}

/** A minted registry token. */
export interface IssuedToken {
  readonly token: string;
  readonly access: readonly AccessEntry[];
  readonly expiresIn: number;
  readonly issuedAt: Date;
  readonly plan: string;
}

/** The options the pipeline reads (the service's validated options fit as they are). */
export interface PipelineOptions {
  /** Every trusted Authority; a caller token's `iss` selects one. */
  readonly authorities: readonly AuthorityOptions[];
  readonly policy: PolicyOptions;
  readonly signing: {
    readonly issuer: string;
    readonly audience?: string;
    readonly lifetimeSeconds: number;
  };
}

/** What the pipeline holds for one trusted Authority. */
export interface TrustedAuthority {
  /** Its keys: a token is verified only with the keys of the Authority its `iss` selects. */
  readonly keys: AuthorityKeys;
  /** Its tokens that verified, so a repeated one skips the signature check. */
  readonly verifiedTokens: VerifiedTokenCache;
  /** Its DPoP proof policy, with the replay cache and nonces every Authority shares. */
  readonly dpop: DpopVerifier;
}

/** The pipeline's collaborators: configuration, keys, signer, clock and randomness. */
export interface IssueDeps {
  readonly options: PipelineOptions;
  /** Keys and per-Authority state of each of `options.authorities`, by `Name`. */
  readonly authorities: ReadonlyMap<string, TrustedAuthority>;
  readonly signer: TokenSigner;
  readonly now: () => Date;
  readonly randomId: () => string;
  /** Registry tokens minted recently, for identical requests. */
  readonly mintedTokens: MintedTokenCache;
}

const MAX_SERVICE_LENGTH = 255;
const SERVICE = /^[\x21-\x7e]+$/;

/** Runs the whole pipeline for one request; throws a `Denial` when it is refused. */
export async function issueToken(
  input: TokenRequestInput,
  deps: IssueDeps,
  audit: Audit,
  guard: VerificationGuard = (verify) => verify(),
): Promise<IssuedToken> {
  const service = parseService(input.service);
  audit.service = service;
  const scopes = parseScopes(input.scopes);
  audit.requested = scopes.map(formatScope);

  const now = deps.now();
  const presented = authorityTokenOf(input.credential);
  // Read once, for the audit record and the prechecks alike.
  const unverified = readUnverified(presented.token);
  const iss = unverified.payload?.iss;
  audit.issuer = typeof iss === "string" ? iss : undefined;
  // Cheap refusals first, the unknown issuer among them: they cost the client nothing and the
  // service no signature check. The token's iss chooses whose keys and rules apply.
  const authority = precheck(presented.token, deps.options.authorities, now, unverified);
  // Logged for refusals too: which Authority's keys or rules refused the token.
  audit.authority = authority.name;
  const trusted = trustedAuthority(deps, authority.name);
  audit.cached = true;
  const caller = await trusted.verifiedTokens.authenticate(presented.token, now, () => {
    audit.cached = false;
    return guard(() => authenticate(presented.token, trusted.keys.getKey, authority, now));
  });
  audit.subject = caller.subject;
  audit.plan = caller.plan;
  audit.license = caller.license;
  const nowSeconds = Math.floor(now.getTime() / 1000);
  const proof = await confirmSender(
    presented,
    caller.confirmation,
    input.sender,
    authority.senderConstraint,
    trusted.dpop,
    nowSeconds,
  );

  const { policy } = deps.options;
  const authorization = explainAuthorization(caller, service, scopes, policy);
  // Recorded before the refusal, so a refused request's log line says what refused it.
  audit.plan = authorization.plan;
  audit.decisions = summarizeDecisions(authorization.decisions);
  const grant = grantOf(authorization, policy.partialGrants);
  audit.granted = grant.access.map(formatScope);
  // Only now: a proof that cannot be replayed into a grant never takes room in the cache.
  // With the clock read now: verification may have taken a while, and the cache must not
  // forget an entry this proof would still be accepted against.
  if (proof) {
    const owner = proofOwner(authority, caller);
    await recordProof(trusted.dpop.replay, owner, proof, deps.now().getTime() / 1000);
  }

  const { signing } = deps.options;
  const reuseKey = {
    subject: caller.subject,
    service,
    audience: signing.audience ?? service,
    access: grant.access,
    license: caller.license,
  };
  const reused = deps.mintedTokens.reuse(reuseKey, nowSeconds);
  audit.reused = reused !== undefined;
  const minted = reused ?? await mint();
  audit.jti = minted.jti;
  audit.exp = minted.expiresAt;
  return {
    token: minted.token,
    access: grant.access,
    // A reused token states its true remaining lifetime.
    expiresIn: minted.expiresAt - nowSeconds,
    issuedAt: new Date(minted.issuedAt * 1000),
    plan: grant.plan,
  };

  async function mint(): Promise<MintedToken> {
    const claims = registryClaims({
      issuer: signing.issuer,
      subject: caller.subject,
      service,
      audience: signing.audience,
      access: grant.access,
      license: caller.license,
      issuedAt: nowSeconds,
      lifetimeSeconds: signing.lifetimeSeconds,
      jti: deps.randomId(),
    });
    const token = {
      token: await deps.signer(claims),
      jti: claims.jti,
      issuedAt: claims.iat,
      expiresAt: claims.exp,
    };
    deps.mintedTokens.remember(reuseKey, token);
    return token;
  }
}

function trustedAuthority(deps: IssueDeps, name: string): TrustedAuthority {
  const trusted = deps.authorities.get(name);
  if (!trusted) throw new Error(`no keys for Authority "${name}"`);
  return trusted;
}

/**
 * Who a DPoP proof is charged to in the replay cache every Authority shares: the subject within
 * its issuer, so equal subjects of two Authorities hold separate shares. The issuer, not the
 * Name, so that renaming an Authority at a reload forgets no proof.
 */
function proofOwner(authority: AuthorityOptions, caller: Caller): string {
  return JSON.stringify([authority.issuer, caller.subject]);
}

function parseService(service: string | undefined): string {
  if (service === undefined || service === "") {
    throw new Denial(
      "service_missing",
      "the service parameter is required (the registry's service name)",
    );
  }
  if (service.length > MAX_SERVICE_LENGTH || !SERVICE.test(service)) {
    throw new Denial(
      "request_invalid",
      "the service parameter must be printable ASCII, at most 255 characters",
    );
  }
  return service;
}
