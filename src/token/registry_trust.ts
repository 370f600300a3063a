/**
 * What a registry needs to trust this service's tokens: the public keys as a JWKS (for
 * distribution 3.x `auth.token.jwks`), a certificate bundle (`auth.token.rootcertbundle`, which
 * distribution 2.8 requires to hold a certificate), and matching `auth.token` snippets.
 *
 * Which registry takes which key: distribution 2.8 verifies RS256 and ES256/384 (by `x5c` or the
 * libtrust `kid`) but no EdDSA, and does not even start with an Ed25519 certificate in its
 * bundle, so with an Ed25519 key among those exported only the 3.x snippet is printed. v3.0.0
 * finds an EC or Ed25519 key by `kid` only through `jwks` (it thumbprints an EC bundle
 * certificate wrongly and an Ed25519 one not at all), so its snippet always names `jwks`.
 *
 * @module
 */

import type { JWK } from "jose";
import { certificatesToPem, selfSignedCertificate, validityFrom } from "./certificate.ts";
import type { SigningAlgorithm, SigningKey } from "./keys.ts";

/** File names written into the export directory. */
export const TRUST_FILES = { jwks: "jwks.json", bundle: "rootcertbundle.pem" } as const;

/** Validity of a certificate generated for a key that came without one. */
const GENERATED_CERTIFICATE_DAYS = 5 * 365;

/** The trust material for the signing key and any keys published beside it. */
export interface RegistryTrust {
  /** `{"keys":[…]}` with each public key under the `kid` tokens carry. */
  readonly jwks: { readonly keys: readonly JWK[] };
  /** PEM certificates: each key's configured chain, or a self-signed certificate made for it. */
  readonly bundlePem: string;
  /** Key IDs of the keys that had no certificate and got a generated one. */
  readonly generatedFor: readonly string[];
}

/** Builds the trust material; `serialHex` numbers generated certificates (random in production). */
export async function registryTrust(
  keys: readonly SigningKey[],
  now: Date,
  serialHex: () => string,
): Promise<RegistryTrust> {
  const generatedFor: string[] = [];
  const chains = await Promise.all(keys.map(async (key) => {
    if (key.certificateChain.length) return key.certificateChain;
    generatedFor.push(key.kid);
    return [
      await selfSignedCertificate(key, {
        commonName: `registry-token signing key ${key.kid}`,
        ...validityFrom(now, GENERATED_CERTIFICATE_DAYS),
        serialHex: serialHex(),
      }),
    ];
  }));
  return {
    jwks: { keys: keys.map((key) => key.publicJwk) },
    bundlePem: chains.map(certificatesToPem).join(""),
    generatedFor,
  };
}

/** What the `auth.token` snippets say about this service (the service options fit as they are). */
export interface SnippetSettings {
  readonly realm?: string;
  readonly server: { readonly host: string; readonly port: number };
  readonly signing: { readonly issuer: string; readonly audience?: string };
  readonly policy: { readonly allowedServices: ReadonlySet<string> };
}

/**
 * `auth.token` sections that trust files exported to `dir` for `keys` (the signing key first):
 * for distribution 2.8 unless a key is Ed25519 (then a comment says why not), and for 3.x.
 */
export function registryConfigSnippets(
  options: SnippetSettings,
  dir: string,
  keys: readonly Pick<SigningKey, "alg" | "kid">[],
): string {
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
  const ed25519 = keys.filter(({ alg }) => alg === "EdDSA").map(({ kid }) => kid);
  const distribution28 = ed25519.length
    ? `# distribution 2.8: none; it cannot verify EdDSA, and does not start with an Ed25519 ` +
      `certificate (here for ${ed25519.join(", ")}) in its rootcertbundle`
    : `# distribution 2.8 (config.yml)\n${common}`;
  const kidOnlyThroughJwks = keys.some(({ alg }) => KID_ONLY_THROUGH_JWKS.includes(alg));
  const distribution3 = kidOnlyThroughJwks
    ? "# distribution 3.x (config.yml); keep jwks: v3.0.0 finds an EC or Ed25519 key's kid " +
      "only there (or sent as x5c)"
    : "# distribution 3.x (config.yml)";
  return `${distribution28}

${distribution3}
${common}
    jwks: ${dir}/${TRUST_FILES.jwks}
`;
}

/** Algorithms whose keys distribution v3.0.0 cannot match by `kid` against its bundle. */
const KID_ONLY_THROUGH_JWKS: readonly SigningAlgorithm[] = ["ES256", "ES384", "EdDSA"];
