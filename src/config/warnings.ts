/**
 * Configurations that are valid but limit what the service can do: `--check` prints these
 * and every start (the development profile included) logs them.
 *
 * @module
 */

import type { SigningKey } from "../token/keys.ts";
import type { Options } from "./options.ts";

/** The keys `options` named, as loaded (a `Service` fits). */
export interface LoadedKeys {
  readonly signingKey: SigningKey;
  readonly publishedKeys: readonly { readonly key: SigningKey }[];
}

/** What the operator should know about `options` and the keys it loaded, one sentence each. */
export function configurationWarnings(options: Options, keys: LoadedKeys): string[] {
  const warnings: string[] = [];
  if (keys.signingKey.alg === "EdDSA") {
    warnings.push(
      `Signing:KeyPath is an Ed25519 key (EdDSA, kid ${keys.signingKey.kid}): distribution 2.8 ` +
        "cannot verify its tokens; only distribution 3.x can, trusting it through auth.token.jwks " +
        "(or x5c), as --export-trust prints",
    );
  }
  keys.publishedKeys.forEach(({ key }, index) => {
    if (key.alg !== "EdDSA") return;
    warnings.push(
      `Signing:PublishedKeys:${index} is an Ed25519 key (kid ${key.kid}): distribution 2.8 does ` +
        "not start with its certificate in auth.token.rootcertbundle; export trust for 3.x only",
    );
  });
  if (!options.server.publicBaseUrl && !options.realm) {
    warnings.push(
      "DPoP-bound caller tokens will be refused (dpop_not_configured): set Server:PublicBaseUrl " +
        "or Registry:Realm, the URL proofs must name; it is never taken from a request's Host",
    );
  }
  for (const { name, section, audiences, requiredScopes } of options.authorities) {
    if (audiences.length === 0 && requiredScopes.length === 0) {
      // A CI issuer signs tokens for every project and job, each choosing its own aud.
      warnings.push(
        `${section} (Authority "${name}") checks neither Audiences nor RequiredScopes: any token ` +
          "its issuer signs, for whichever audience, is accepted; set Audiences",
      );
    }
  }
  if (options.server.workers > 1 && options.state.backend === "memory") {
    warnings.push(
      "DPoP-bound caller tokens will be refused (dpop_not_configured): several workers with " +
        "State:Backend memory cannot keep a proof single-use across them; set State:Backend redis",
    );
  }
  return warnings;
}
