/**
 * What a registry needs to trust this service's tokens: the public keys as a JWKS (for
 * distribution 3.x `auth.token.jwks`), a certificate bundle (`auth.token.rootcertbundle`, which
 * distribution 2.8 requires to hold a certificate), and matching `auth.token` snippets.
 *
 * @module
 */

import type { JWK } from "jose";
import type { Options } from "../config/options.ts";
import { certificatesToPem, selfSignedCertificate } from "./certificate.ts";
import type { SigningKey } from "./keys.ts";

/** File names written into the export directory. */
export const TRUST_FILES = { jwks: "jwks.json", bundle: "rootcertbundle.pem" } as const;

/** Validity of a certificate generated for a key that came without one. */
const GENERATED_CERTIFICATE_DAYS = 5 * 365;

/** The trust material for one signing key. */
export interface RegistryTrust {
  /** `{"keys":[…]}` with the public key under the `kid` tokens carry. */
  readonly jwks: { readonly keys: readonly JWK[] };
  /** PEM certificates: the configured chain, or a generated self-signed certificate. */
  readonly bundlePem: string;
  /** True when the key had no certificate and one was generated for the bundle. */
  readonly generatedCertificate: boolean;
}

/** Builds the trust material; `serialHex` names a generated certificate (random in production). */
export async function registryTrust(
  key: SigningKey,
  now: Date,
  serialHex: string,
): Promise<RegistryTrust> {
  const generatedCertificate = key.certificateChain.length === 0;
  const chain = generatedCertificate
    ? [
      await selfSignedCertificate(key, {
        commonName: `registry-token signing key ${key.kid}`,
        notBefore: new Date(now.getTime() - 60_000),
        notAfter: new Date(now.getTime() + GENERATED_CERTIFICATE_DAYS * 86_400_000),
        serialHex,
      }),
    ]
    : key.certificateChain;
  return {
    jwks: { keys: [key.publicJwk] },
    bundlePem: certificatesToPem(chain),
    generatedCertificate,
  };
}

/** `auth.token` sections for distribution 2.8 and 3.x that trust files exported to `dir`. */
export function registryConfigSnippets(options: Options, dir: string): string {
  const realm = options.realm ??
    `http://${
      options.server.host === "0.0.0.0" ? "<this-host>" : options.server.host
    }:${options.server.port}/token`;
  const service = options.signing.audience ?? [...options.policy.allowedServices][0] ??
    "<the registry's service name>";
  const common = `auth:
  token:
    realm: ${realm}
    service: ${service}
    issuer: ${options.signing.issuer}
    rootcertbundle: ${dir}/${TRUST_FILES.bundle}`;
  return `# distribution 2.8 (config.yml)
${common}

# distribution 3.x (config.yml)
${common}
    jwks: ${dir}/${TRUST_FILES.jwks}
`;
}
