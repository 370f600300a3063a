/**
 * `Signing`: the key registry tokens are signed with, their lifetime, and keys published for
 * rotation.
 *
 * @module
 */

import { KEY_ID_FORMATS, type KeyIdFormat } from "../token/keys.ts";
import { ConfigError } from "./error.ts";
import { choice, duration, list, section, type Settled, text } from "./schema.ts";

/** A key published for registries to verify with, but not used for signing (rotation). */
export interface PublishedKeyOptions {
  readonly keyPath: string;
  readonly keyPassword?: string;
  readonly certificatePath?: string;
  readonly keyId?: string;
  /** Stop publishing the key after this instant (tokens it signed have expired by then). */
  readonly until?: Date;
}

/** How registry tokens are minted. */
export interface SigningOptions {
  readonly issuer: string;
  readonly keyPath: string;
  readonly keyPassword?: string;
  readonly certificatePath?: string;
  readonly lifetimeSeconds: number;
  readonly audience?: string;
  readonly keyId?: string;
  /** Unset: libtrust for RSA and EC keys, the thumbprint for Ed25519 keys. */
  readonly keyIdFormat?: KeyIdFormat;
  /** How long after minting an identical request gets the same token (0: never). */
  readonly reuseWindowSeconds: number;
  /** Keys published besides the signing key: the next one before a rotation, the last one after. */
  readonly publishedKeys: readonly PublishedKeyOptions[];
}

const KEY_PASSWORD_DOC = "password of an encrypted PEM or PFX (prefer the env variable)";
const CERTIFICATE_PATH_DOC = "PEM certificate chain for the key (leaf found by key, sent as `x5c`)";

/** The `Signing` section. */
export const SIGNING_SECTION = section({
  doc: "how registry tokens are signed",
  fields: {
    Issuer: text({
      required: true,
      doc: "`iss` of registry tokens; the registry's `auth.token.issuer`",
    }),
    KeyPath: text({
      required: true,
      doc: "the signing key: RSA ≥ 2048 bits, EC P-256/P-384 or Ed25519, PEM or PFX " +
        "([key files](#signing-key-files))",
    }),
    KeyPassword: text({ doc: KEY_PASSWORD_DOC }),
    CertificatePath: text({ doc: CERTIFICATE_PATH_DOC }),
    Lifetime: duration({
      default: 300,
      min: 1,
      max: 3600,
      // exp and expires_in are whole seconds for registries and clients.
      wholeSeconds: true,
      doc: "registry token lifetime",
    }),
    Audience: text({ defaultText: "the requested `service`", doc: "`aud` of registry tokens" }),
    KeyId: text({ defaultText: "derived by `KeyIdFormat`", doc: "`kid` header" }),
    KeyIdFormat: choice({
      values: KEY_ID_FORMATS,
      defaultText: "`libtrust`; `thumbprint` for an Ed25519 key",
      doc: "how the default `kid` is derived: `libtrust` (distribution 2.x; RSA and EC only) or " +
        "`thumbprint` (RFC 7638; 3.x, [which trust path](registry.md#how-the-registry-finds-the-key))",
    }),
    ReuseWindow: duration({
      min: 0,
      max: 1800,
      defaultText: "`Lifetime / 5`",
      doc: "an identical request within this gets the token already minted (`0`: never); at " +
        "most `Lifetime / 2`",
    }),
    PublishedKeys: list({
      doc: "keys published in `/jwks` and the trust export, never used to sign " +
        "([rotation](operations.md#reload-and-rotate-keys))",
      item: section({
        doc: "a published key",
        fields: {
          KeyPath: text({ required: true, doc: "the key file, in any `Signing:KeyPath` format" }),
          KeyPassword: text({ doc: KEY_PASSWORD_DOC }),
          CertificatePath: text({ doc: CERTIFICATE_PATH_DOC }),
          KeyId: text({ defaultText: "derived by `KeyIdFormat`", doc: "`kid` of the key" }),
          Until: text({
            defaultText: "— (published while configured)",
            doc: "stop publishing after this date and time, e.g. `2026-12-31T00:00:00Z`",
          }),
        },
      }),
    }),
  },
});

/** `Signing` after defaults. */
export type SigningSection = Settled<typeof SIGNING_SECTION>;

/** Builds how tokens are minted; `path` is the section's key. */
export function signingOptions(signing: SigningSection, path: string): SigningOptions {
  const lifetimeSeconds = signing.Lifetime;
  // The reuse window is bounded by the lifetime, so its default and range are computed here.
  const reuseWindowSeconds = signing.ReuseWindow ?? Math.floor(lifetimeSeconds / 5);
  const maxReuseWindow = Math.floor(lifetimeSeconds / 2);
  if (reuseWindowSeconds > maxReuseWindow) {
    throw new ConfigError(
      `${path}:ReuseWindow`,
      `must be between 0s and ${maxReuseWindow}s, got ${reuseWindowSeconds}s`,
    );
  }
  return {
    issuer: signing.Issuer,
    keyPath: signing.KeyPath,
    keyPassword: signing.KeyPassword,
    certificatePath: signing.CertificatePath,
    lifetimeSeconds,
    audience: signing.Audience,
    keyId: signing.KeyId,
    keyIdFormat: signing.KeyIdFormat,
    reuseWindowSeconds,
    publishedKeys: signing.PublishedKeys.map((published, index) => {
      const until = published.Until;
      if (until !== undefined && Number.isNaN(Date.parse(until))) {
        throw new ConfigError(
          `${path}:PublishedKeys:${index}:Until`,
          `must be a date and time such as 2026-12-31T00:00:00Z, got "${until}"`,
        );
      }
      return {
        keyPath: published.KeyPath,
        keyPassword: published.KeyPassword,
        certificatePath: published.CertificatePath,
        keyId: published.KeyId,
        until: until === undefined ? undefined : new Date(until),
      };
    }),
  };
}
