/**
 * Registry tokens minted here for the doctor, each differing from what the service issues in
 * one property — the `kid` format, `x5c`, `aud`, the clock, the key — so that which ones a
 * registry accepts names what it expects.
 *
 * @module
 */

import { calculateJwkThumbprint } from "jose";
import { libtrustKeyId } from "../token/libtrust.ts";
import { createTokenSigner, registryClaims } from "../token/mint.ts";
import type { KeyIdFormat, SigningKey } from "../token/keys.ts";

/** What a variant changes, for the diagnosis to reason about. */
export type VariantChange =
  | { readonly kind: "none" }
  | { readonly kind: "kid"; readonly format: KeyIdFormat; readonly kid: string }
  | { readonly kind: "audience"; readonly audience: string }
  | { readonly kind: "clock"; readonly skewSeconds: number }
  | { readonly kind: "published-key"; readonly kid: string };

/** One locally minted token and what makes it differ. */
export interface Variant {
  readonly change: VariantChange;
  /** One line for the report, e.g. `kid in thumbprint form (…), no x5c`. */
  readonly description: string;
  readonly token: string;
}

/** What the variants are minted from: this service's keys and settings, the registry's service. */
export interface VariantInputs {
  readonly signingKey: SigningKey;
  /** `Signing:PublishedKeys` still published (their private halves are configured too). */
  readonly publishedKeys: readonly SigningKey[];
  readonly issuer: string;
  /** `Signing:Audience`; undefined: the service, as the service does. */
  readonly audience?: string;
  /** The `service` the registry's challenge names. */
  readonly service: string;
  readonly lifetimeSeconds: number;
  readonly now: Date;
  /** The registry's clock minus ours, when its `Date` said. */
  readonly skewSeconds?: number;
  readonly randomId: () => string;
}

/** Past this difference, distribution's 60 s leeway may no longer cover `nbf` or `exp`. */
export const CLOCK_SKEW_WORTH_TRYING_SECONDS = 30;

/** The variants for `inputs`, the service's own form first; no two alike. */
export async function mintVariants(inputs: VariantInputs): Promise<Variant[]> {
  const { signingKey: key, service } = inputs;
  const mint = (signer: SigningKey, patch: { audience?: string; skewSeconds?: number } = {}) =>
    createTokenSigner(signer)(registryClaims({
      issuer: inputs.issuer,
      subject: "registry-token-doctor",
      service,
      audience: "audience" in patch ? patch.audience : inputs.audience,
      access: [],
      issuedAt: Math.floor(inputs.now.getTime() / 1000) + (patch.skewSeconds ?? 0),
      lifetimeSeconds: inputs.lifetimeSeconds,
      jti: inputs.randomId(),
    }));
  const chain = key.certificateChain.length ? ", with x5c" : "";
  const variants: Variant[] = [{
    change: { kind: "none" },
    description: `as this service mints them: kid ${key.kid}${chain}`,
    token: await mint(key),
  }];
  for (const [format, kid] of await derivedKeyIds(key)) {
    // Without x5c, so that a registry that resolves kids but refuses the chain shows it too.
    if (kid === key.kid && !chain) continue;
    variants.push({
      change: { kind: "kid", format, kid },
      description: `kid in ${format} form (${kid}), no x5c`,
      token: await mint({ ...key, kid, certificateChain: [] }),
    });
  }
  if (inputs.audience !== undefined && inputs.audience !== service) {
    variants.push({
      change: { kind: "audience", audience: service },
      description: `aud "${service}" (the registry's service) instead of "${inputs.audience}"`,
      token: await mint(key, { audience: service }),
    });
  }
  const skew = inputs.skewSeconds ?? 0;
  if (Math.abs(skew) > CLOCK_SKEW_WORTH_TRYING_SECONDS) {
    variants.push({
      change: { kind: "clock", skewSeconds: skew },
      description: `iat, nbf and exp on the registry's clock (${signed(skew)} s from ours)`,
      token: await mint(key, { skewSeconds: skew }),
    });
  }
  for (const published of inputs.publishedKeys) {
    variants.push({
      change: { kind: "published-key", kid: published.kid },
      description: `signed with the published key ${published.kid} instead`,
      token: await mint(published),
    });
  }
  return variants;
}

/** The key's `kid` in each derived form (libtrust has none for Ed25519). */
async function derivedKeyIds(key: SigningKey): Promise<[KeyIdFormat, string][]> {
  const thumbprint: [KeyIdFormat, string] = [
    "thumbprint",
    await calculateJwkThumbprint(key.publicJwk),
  ];
  if (key.alg === "EdDSA") return [thumbprint];
  const spki = new Uint8Array(await crypto.subtle.exportKey("spki", key.publicKey));
  return [["libtrust", await libtrustKeyId(spki)], thumbprint];
}

/** `+5` / `-5`. */
export function signed(seconds: number): string {
  return seconds > 0 ? `+${seconds}` : String(seconds);
}
