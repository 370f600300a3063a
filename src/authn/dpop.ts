/**
 * DPoP proof checks, in the order of RFC 9449 section 4.3, for a request that presents a
 * DPoP-bound Authority token.
 *
 * @module
 */

import {
  calculateJwkThumbprint,
  decodeProtectedHeader,
  errors,
  importJWK,
  type JWK,
  jwtVerify,
  type ProtectedHeaderParameters,
} from "jose";
import { Denial } from "../denial.ts";
import { sha256Base64Url } from "../encoding.ts";

/** How DPoP proofs (RFC 9449) are checked. */
export interface DpopOptions {
  /** Proof signature algorithms accepted (asymmetric only). */
  readonly algorithms: readonly string[];
  /** How old a proof's `iat` may be. */
  readonly proofMaxAgeSeconds: number;
  /** Demand a server nonce (`DPoP-Nonce`) in every proof. */
  readonly requireNonce: boolean;
  /** How long one server nonce stays valid. */
  readonly nonceLifetimeSeconds: number;
  /** Most proof `jti`s remembered for replay detection at once. */
  readonly replayCacheSize: number;
}

/** Longest DPoP header accepted: a proof is a few hundred bytes, an RSA key adds ~400. */
const MAX_PROOF_LENGTH = 8 * 1024;

const PRIVATE_JWK_MEMBERS = ["d", "p", "q", "dp", "dq", "qi", "oth", "k"];
const MAX_JTI_LENGTH = 256;
/**
 * How far in the future a proof's `iat` may be. Small on purpose: the replay cache must keep a
 * proof for as long as it is acceptable, and a far-future `iat` would pin its entry longer.
 */
export const MAX_FUTURE_IAT_SECONDS = 10;
/** The longest `ProofMaxAge` any configuration may set. */
export const MAX_PROOF_AGE_SECONDS = 600;

/** What this request is, for `htm`, `htu` and `ath`. */
export interface ProofContext {
  /** HTTP method of this request. */
  readonly method: string;
  /**
   * This request's URL as configured (`Server:PublicBaseUrl` or `Registry:Realm`); `undefined`
   * when neither is set, and then no proof can be accepted: the caller would choose the URL.
   */
  readonly url: string | undefined;
  /** The Authority token presented with the proof. */
  readonly accessToken: string;
  /** `cnf.jkt` of that token. */
  readonly boundThumbprint: string;
  /** Seconds since the epoch. */
  readonly now: number;
}

/**
 * Remembers proofs until they expire. `owner` is the authenticated caller the proof is charged
 * to (never the proof's key, which the caller chooses).
 */
export interface ReplayCache {
  /**
   * Records `proof` until it expires; says whether it was new, seen before, did not fit, or was
   * made before the records began (`predates`: a shared backend that lost its data cannot tell
   * whether such a proof was used).
   */
  remember(
    owner: string,
    proof: AcceptedProof,
    now: number,
  ): Promise<"fresh" | "replayed" | "full" | "predates">;
  /** Releases what the cache holds once no service uses it (a shared backend's connection). */
  close(): Promise<void>;
}

/** Issues and recognises server nonces. */
export interface NonceSource {
  /** The nonce clients should use now. */
  current(now: number): Promise<string>;
  /** Whether `nonce` is the current or the previous one. */
  accepts(nonce: string, now: number): Promise<boolean>;
  /** Releases what the source holds once no service uses it (a shared backend's connection). */
  close(): Promise<void>;
}

/** What the proof check needs besides the request. */
export interface DpopVerifier {
  readonly options: DpopOptions;
  readonly replay: ReplayCache;
  /** Present when nonces are required. */
  readonly nonces?: NonceSource;
  /**
   * Set when this process cannot keep proofs single-use (several workers, each with its own
   * replay cache): every DPoP-bound token is then refused with this operator-facing reason.
   */
  readonly unavailable?: string;
}

/** A proof that passed every check, to be recorded once the request is authorized. */
export interface AcceptedProof {
  /** The proof key's thumbprint and the proof's `jti`: unique per proof. */
  readonly id: string;
  /** Its `iat` (seconds). */
  readonly issuedAt: number;
  /** When the proof stops being acceptable, so its record may go. */
  readonly expiresAt: number;
}

/**
 * Checks the request's DPoP proof(s) against the token; throws a `Denial` when any check fails.
 * The proof is not recorded here: `recordProof` does that once the request is authorized, so
 * that proofs which could never be replayed into a grant take no room in the replay cache.
 */
export async function verifyDpopProof(
  proofs: readonly string[],
  context: ProofContext,
  verifier: DpopVerifier,
): Promise<AcceptedProof> {
  if (context.url === undefined) {
    throw new Denial(
      "dpop_not_configured",
      "this service cannot check DPoP proofs: its operator must set Server:PublicBaseUrl or Registry:Realm",
    );
  }
  if (verifier.unavailable) throw new Denial("dpop_not_configured", verifier.unavailable);
  if (proofs.length === 0) {
    throw new Denial("dpop_proof_missing", "a DPoP-bound token needs a DPoP proof header");
  }
  if (proofs.length > 1) throw invalid("send exactly one DPoP header");
  const proof = proofs[0];
  if (proof.length > MAX_PROOF_LENGTH) throw invalid("the DPoP proof is too large");

  const header = protectedHeader(proof);
  if (header.typ !== "dpop+jwt") throw invalid('the DPoP proof must have typ "dpop+jwt"');
  if (!header.alg || !verifier.options.algorithms.includes(header.alg)) {
    throw invalid(
      `the DPoP proof must be signed with one of ${verifier.options.algorithms.join(", ")}`,
    );
  }
  const jwk = publicJwkOf(header);
  const payload = await verifiedPayload(proof, jwk, header.alg);

  const { jti, htm, htu, iat, ath, nonce } = payload;
  if (typeof jti !== "string" || jti === "" || jti.length > MAX_JTI_LENGTH) {
    throw invalid("the DPoP proof needs a jti");
  }
  if (htm !== context.method) throw invalid(`the DPoP proof's htm must be ${context.method}`);
  const expectedHtu = normaliseHtu(context.url);
  if (typeof htu !== "string" || expectedHtu === "" || normaliseHtu(htu) !== expectedHtu) {
    throw invalid(`the DPoP proof's htu must be ${expectedHtu}`);
  }
  const { proofMaxAgeSeconds } = verifier.options;
  if (
    typeof iat !== "number" || iat < context.now - proofMaxAgeSeconds ||
    iat > context.now + MAX_FUTURE_IAT_SECONDS
  ) {
    throw invalid(
      `the DPoP proof's iat must be within ${proofMaxAgeSeconds}s of the server's time`,
    );
  }
  if (
    verifier.nonces &&
    (typeof nonce !== "string" || !(await verifier.nonces.accepts(nonce, context.now)))
  ) {
    throw new Denial("dpop_nonce_required", "use the server's DPoP-Nonce in the DPoP proof");
  }
  if (ath !== sha256Base64Url(context.accessToken)) {
    throw invalid("the DPoP proof's ath does not match the access token");
  }
  const thumbprint = await calculateJwkThumbprint(jwk);
  if (thumbprint !== context.boundThumbprint) {
    throw new Denial(
      "dpop_proof_binding_mismatch",
      "the DPoP proof is signed by a key other than the one the token is bound to",
    );
  }
  return {
    id: `${thumbprint}:${jti}`,
    issuedAt: iat,
    // Kept for the longest age any configuration allows, not this one's: the replay cache
    // outlives a reload, and a reload that raised ProofMaxAge (or moved the Issuer to an
    // Authority with a longer one) must not find a used proof forgotten and acceptable again.
    expiresAt: iat + MAX_PROOF_AGE_SECONDS + MAX_FUTURE_IAT_SECONDS,
  };
}

/**
 * Records an accepted proof for `owner` (the authenticated caller); throws a `Denial` when it
 * was used before, when `owner` already holds its share of the replay cache, or when it was made
 * before a shared backend's records began.
 */
export async function recordProof(
  replay: ReplayCache,
  owner: string,
  proof: AcceptedProof,
  now: number,
): Promise<void> {
  const outcome = await replay.remember(owner, proof, now);
  if (outcome === "replayed") {
    throw new Denial("dpop_proof_replayed", "this DPoP proof was already used; make a new one");
  }
  if (outcome === "full") {
    throw new Denial(
      "dpop_replay_cache_full",
      "too many DPoP proofs from this caller at once; try again shortly",
    );
  }
  if (outcome !== "fresh") {
    // "predates", and anything a backend should never answer: only "fresh" lets a proof through.
    throw new Denial(
      "dpop_proof_invalid",
      "this DPoP proof was made before the shared replay records were lost; make a new one",
    );
  }
}

/**
 * Normalises an `htu` for comparison (RFC 9449 4.3 step 9, RFC 3986 6.2.2 and 6.2.3): scheme
 * and host in lower case, default port dropped, dot segments removed, percent-encodings in
 * upper case and unreserved characters decoded; query and fragment ignored.
 */
export function normaliseHtu(htu: string): string {
  if (!URL.canParse(htu)) return "";
  const url = new URL(htu);
  if (url.protocol !== "https:" && url.protocol !== "http:") return "";
  const path = url.pathname.replace(/%[0-9a-fA-F]{2}/g, (escape) => {
    const char = String.fromCharCode(parseInt(escape.slice(1), 16));
    return /[A-Za-z0-9\-._~]/.test(char) ? char : escape.toUpperCase();
  });
  return `${url.protocol}//${url.host}${path}`;
}

function protectedHeader(proof: string): ProtectedHeaderParameters {
  try {
    return decodeProtectedHeader(proof);
  } catch {
    throw invalid("the DPoP header is not a JWT");
  }
}

function publicJwkOf(header: ProtectedHeaderParameters): JWK {
  const jwk = header.jwk;
  if (typeof jwk !== "object" || jwk === null || typeof jwk.kty !== "string") {
    throw invalid("the DPoP proof must carry its public key as jwk");
  }
  if (PRIVATE_JWK_MEMBERS.some((member) => member in jwk)) {
    throw invalid("the DPoP proof's jwk must be a public key");
  }
  return jwk;
}

async function verifiedPayload(proof: string, jwk: JWK, alg: string) {
  let key;
  try {
    key = await importJWK(jwk, alg);
  } catch {
    throw invalid("the DPoP proof's jwk does not fit its alg");
  }
  try {
    const { payload } = await jwtVerify(proof, key, { algorithms: [alg], typ: "dpop+jwt" });
    return payload;
  } catch (error) {
    const problem = error instanceof errors.JWSSignatureVerificationFailed
      ? "the DPoP proof's signature is invalid"
      : "the DPoP proof is not a valid JWT";
    throw invalid(problem);
  }
}

function invalid(message: string): Denial {
  return new Denial("dpop_proof_invalid", message);
}
