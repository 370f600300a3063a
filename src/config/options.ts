/**
 * Validated, immutable service options built from the merged configuration document: each
 * section file settles and builds its own part; the checks that span sections live here.
 *
 * @module
 */

import type { AuthorityOptions } from "../authn/authenticate.ts";
import type { PolicyOptions } from "../authz/authorize.ts";
import type { ServerOptions } from "../http/server_options.ts";
import { authorityOptions } from "./authority.ts";
import { ROOT_KEY, SERVICE_SCHEMA, type ServiceDocument } from "./document.ts";
import { ConfigError } from "./error.ts";
import { policyOptions } from "./policy.ts";
import { settle } from "./schema.ts";
import { serverOptions } from "./server.ts";
import { type SigningOptions, signingOptions } from "./signing.ts";
import { optionalUrl } from "./values.ts";

/** Everything the service needs to run, validated once at startup. */
export interface Options {
  readonly server: ServerOptions;
  readonly authority: AuthorityOptions;
  readonly signing: SigningOptions;
  /** `realm` of `WWW-Authenticate` challenges; defaults to this service's own `/token` URL. */
  readonly realm?: string;
  readonly policy: PolicyOptions;
}

/** Validates a merged document into `Options`; throws `ConfigError` naming the first bad key. */
export function buildOptions(document: ServiceDocument): Options {
  const settled = settle(SERVICE_SCHEMA, document, ROOT_KEY);
  const key = (path: string) => `${ROOT_KEY}:${path}`;
  const server = serverOptions(settled.Server, key("Server"));
  const authority = authorityOptions(settled.Authority, key("Authority"));
  const realm = optionalUrl(settled.Registry.Realm, key("Registry:Realm"));
  const constraint = authority.senderConstraint;
  if ((constraint === "dpop" || constraint === "dpop-or-mtls") && !server.publicBaseUrl && !realm) {
    throw new ConfigError(
      key("Authority:SenderConstraint"),
      `${constraint} needs Server:PublicBaseUrl (or Registry:Realm): DPoP proofs ` +
        "are checked against the URL callers use, never against a Host header they choose",
    );
  }
  if (
    (constraint === "mtls" || constraint === "dpop-or-mtls") &&
    !server.tls && !server.clientCertificateHeader
  ) {
    throw new ConfigError(
      key("Authority:SenderConstraint"),
      `${constraint} needs client certificates: configure Server:Tls or Server:ClientCertificateHeader`,
    );
  }
  return {
    server,
    authority,
    signing: signingOptions(settled.Signing, key("Signing")),
    realm,
    policy: policyOptions(settled, ROOT_KEY),
  };
}
