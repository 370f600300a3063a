/**
 * Configurations that are valid but limit what the service can do: `--check` prints these
 * and every start (the development profile included) logs them.
 *
 * @module
 */

import type { Options } from "./options.ts";

/** What the operator should know about `options`, one sentence each. */
export function configurationWarnings(options: Options): string[] {
  const warnings: string[] = [];
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
