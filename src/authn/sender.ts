/**
 * The sender-constraint stage: a bound Authority token is only accepted from its holder.
 *
 * A token whose `cnf` names a DPoP key (RFC 9449) needs the `DPoP` scheme and a valid proof by
 * that key; one whose `cnf` names a certificate (RFC 8705) needs that certificate on the
 * connection. Bindings are always honoured; `Authority:SenderConstraint` decides in addition
 * which binding every token must have.
 *
 * @module
 */

import { Denial } from "../denial.ts";
import { sha256Base64Url } from "../encoding.ts";
import type { PresentedToken } from "./credentials.ts";
import { type AcceptedProof, type DpopVerifier, verifyDpopProof } from "./dpop.ts";

/** The sender constraints `Authority:SenderConstraint` may name. */
export const SENDER_CONSTRAINTS = ["none", "dpop", "mtls", "dpop-or-mtls"] as const;

/** Which sender constraint caller tokens must carry (a bound token is always checked). */
export type SenderConstraint = typeof SENDER_CONSTRAINTS[number];

/** The token's `cnf` confirmation methods this service can check. */
export interface Confirmation {
  /** RFC 7638 thumbprint of the DPoP key (`cnf.jkt`). */
  readonly jkt?: string;
  /** SHA-256 thumbprint of the client certificate (`cnf["x5t#S256"]`). */
  readonly x5tS256?: string;
}

/** What the request offers as proof of possession. */
export interface SenderEvidence {
  readonly method: string;
  /** The request URL as configured, for DPoP `htu` (`undefined`: nothing is configured). */
  readonly url: string | undefined;
  /** Values of the `DPoP` header(s). */
  readonly dpopProofs: readonly string[];
  /** DER of the client certificate on this connection, if a trusted one was presented. */
  readonly clientCertificate?: Uint8Array;
}

const REQUIRED_BINDING: Record<Exclude<SenderConstraint, "none">, string> = {
  dpop: "DPoP-bound (cnf.jkt)",
  mtls: "certificate-bound (cnf.x5t#S256)",
  "dpop-or-mtls": "DPoP- or certificate-bound",
};

/**
 * Checks that the presenter holds what the token is bound to; throws a `Denial` otherwise.
 * Returns the DPoP proof that passed, for the replay cache once the request is authorized.
 */
export async function confirmSender(
  presented: PresentedToken,
  confirmation: Confirmation | undefined,
  evidence: SenderEvidence,
  required: SenderConstraint,
  dpop: DpopVerifier,
  now: number,
): Promise<AcceptedProof | undefined> {
  const { jkt, x5tS256 } = confirmation ?? {};
  if (required !== "none" && !satisfies(required, jkt !== undefined, x5tS256 !== undefined)) {
    throw new Denial(
      "token_unbound",
      `this service accepts only ${REQUIRED_BINDING[required]} Authority tokens`,
    );
  }
  let proof: AcceptedProof | undefined;
  if (presented.scheme === "dpop" && jkt === undefined) {
    throw new Denial(
      "dpop_proof_binding_mismatch",
      "the Authority token is not DPoP-bound (no cnf.jkt); present it as a Bearer token",
    );
  }
  if (jkt !== undefined) {
    if (presented.scheme === "bearer" || presented.scheme === "basic") {
      throw new Denial(
        "dpop_token_as_bearer",
        "the Authority token is DPoP-bound: send it as Authorization: DPoP with a DPoP proof",
      );
    }
    proof = await verifyDpopProof(evidence.dpopProofs, {
      method: evidence.method,
      url: evidence.url,
      accessToken: presented.token,
      boundThumbprint: jkt,
      now,
    }, dpop);
  }
  if (x5tS256 !== undefined) {
    if (!evidence.clientCertificate) {
      throw new Denial(
        "mtls_certificate_missing",
        "the Authority token is certificate-bound: connect with the client certificate it was issued to",
      );
    }
    if (sha256Base64Url(evidence.clientCertificate) !== x5tS256) {
      throw new Denial(
        "mtls_certificate_mismatch",
        "the client certificate is not the one the Authority token is bound to",
      );
    }
  }
  return proof;
}

function satisfies(required: SenderConstraint, dpopBound: boolean, certificateBound: boolean) {
  switch (required) {
    case "none":
      return true;
    case "dpop":
      return dpopBound;
    case "mtls":
      return certificateBound;
    case "dpop-or-mtls":
      return dpopBound || certificateBound;
  }
}
