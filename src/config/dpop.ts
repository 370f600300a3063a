/**
 * `Authority:DPoP` (and each `Authorities` item's `DPoP`): how DPoP proofs (RFC 9449) are
 * checked.
 *
 * @module
 */

import { type DpopOptions, MAX_PROOF_AGE_SECONDS } from "../authn/dpop.ts";
import { ASYMMETRIC_JWS_ALGORITHMS } from "../jws_algorithms.ts";
import { ConfigError } from "./error.ts";
import { duration, flag, integer, list, section, settle, type Settled, text } from "./schema.ts";

/** The `Authority:DPoP` section (and each `Authorities` item's). */
export const DPOP_SECTION = section({
  doc: "DPoP proof policy (RFC 9449)",
  fields: {
    Algorithms: list({
      item: text({ doc: "an asymmetric JWS algorithm" }),
      default: ["ES256", "ES384", "RS256", "PS256", "EdDSA"],
      doc:
        "proof signature algorithms accepted ([DPoP profile](sender-constraints.md#dpop-profile))",
    }),
    ProofMaxAge: duration({
      default: 60,
      min: 1,
      max: MAX_PROOF_AGE_SECONDS,
      doc: "how old a proof's `iat` may be",
    }),
    RequireNonce: flag({
      default: false,
      doc: "demand a server nonce (`DPoP-Nonce`) in every proof",
    }),
    NonceLifetime: duration({
      default: 300,
      min: 10,
      max: 3600,
      doc: "how long one server nonce stays valid",
    }),
    ReplayCacheSize: integer({
      default: 100_000,
      min: 1_000,
      max: 10_000_000,
      unit: "proofs",
      doc: "proof `jti`s remembered for replay detection at once",
    }),
  },
});

/** DPoP proof policy when `Authority:DPoP` says nothing. */
export const DEFAULT_DPOP_OPTIONS: DpopOptions = dpopOptions(
  settle(DPOP_SECTION, undefined, "DPoP"),
  "DPoP",
);

/** Builds the DPoP proof policy; `path` is the section's key. */
export function dpopOptions(dpop: Settled<typeof DPOP_SECTION>, path: string): DpopOptions {
  dpop.Algorithms.forEach((algorithm, index) => {
    if (!ASYMMETRIC_JWS_ALGORITHMS.includes(algorithm)) {
      throw new ConfigError(
        `${path}:Algorithms:${index}`,
        `"${algorithm}" is not an asymmetric JWS algorithm (${
          ASYMMETRIC_JWS_ALGORITHMS.join(", ")
        })`,
      );
    }
  });
  return {
    algorithms: dpop.Algorithms,
    proofMaxAgeSeconds: dpop.ProofMaxAge,
    requireNonce: dpop.RequireNonce,
    nonceLifetimeSeconds: dpop.NonceLifetime,
    replayCacheSize: dpop.ReplayCacheSize,
  };
}
