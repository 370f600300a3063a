/**
 * From which locally minted variants a registry accepted, the likely reason it refused this
 * service's token, and the setting that fixes it. Pure: the doctor observes, this decides.
 *
 * A registry that refuses a token says only `invalid_token`, whatever the reason (distribution
 * checks issuer, audience, times and key, and answers each the same). What it accepts when one
 * property changes is what tells them apart; issuer and trust are left when nothing changes it.
 *
 * @module
 */

import type { KeyIdFormat } from "../token/keys.ts";
import type { VariantChange } from "./variants.ts";

/** The likely cause of a refusal and what to change. */
export interface Finding {
  readonly cause: string;
  readonly fix: string;
}

/** This service's settings the diagnosis names. */
export interface SigningFacts {
  readonly issuer: string;
  readonly kid: string;
  /** `Signing:KeyId` is set explicitly (so `KeyIdFormat` changes nothing). */
  readonly explicitKeyId: boolean;
  readonly keyIdFormat: KeyIdFormat;
  /** The tokens carry `x5c` (`Signing:CertificatePath`, or a chain in the key file). */
  readonly carriesChain: boolean;
  readonly lifetimeSeconds: number;
}

/** distribution's leeway on `nbf` and `exp` (`registry/auth/token/token.go`). */
export const REGISTRY_LEEWAY_SECONDS = 60;

/** Why the registry refused `configured` while accepting the `accepted` changes. */
export function diagnoseRefusal(
  accepted: readonly VariantChange[],
  facts: SigningFacts,
  realm: string,
  skewSeconds: number | undefined,
): Finding {
  const find = <K extends VariantChange["kind"]>(kind: K) =>
    accepted.filter((change): change is Extract<VariantChange, { kind: K }> =>
      change.kind === kind
    );
  if (find("none").length) {
    return {
      cause: "a token minted here with this configuration's key and settings is accepted, but " +
        `the one ${realm} issued is not: the service answering there runs another configuration ` +
        "or key",
      fix: `reload or restart the service at ${realm} with this configuration, or point the ` +
        "registry's auth.token.realm at the service that uses it",
    };
  }
  const kids = find("kid");
  if (facts.carriesChain && kids.some(({ kid }) => kid === facts.kid)) {
    return {
      cause: "the registry trusts the signing key by its kid, but not the certificate chain the " +
        "tokens carry in x5c (its rootcertbundle holds no root of that chain)",
      fix: "add the chain's root certificate to the registry's rootcertbundle, or remove " +
        "Signing:CertificatePath so that tokens carry no x5c",
    };
  }
  if (kids.length) {
    const { format, kid } = kids[0];
    const setting = facts.explicitKeyId
      ? `remove Signing:KeyId (or set it to ${kid})`
      : `set Signing:KeyIdFormat: ${format}`;
    return {
      cause: `this registry accepts the ${format} kid (${kid}) but not ${facts.kid}` +
        (facts.explicitKeyId ? " (Signing:KeyId)" : ` (the ${facts.keyIdFormat} form)`),
      fix: `${setting}, or give the registry the jwks.json of --export-trust (distribution 3.x)`,
    };
  }
  const audience = find("audience");
  if (audience.length) {
    return {
      cause: `the registry expects aud "${audience[0].audience}" (its service), and Signing:` +
        "Audience gives the tokens another",
      fix: `set Signing:Audience: ${audience[0].audience}, or remove it (aud is then the service)`,
    };
  }
  const clock = find("clock");
  if (clock.length) {
    return {
      cause: `the registry's clock is ${Math.abs(clock[0].skewSeconds)} s ` +
        `${clock[0].skewSeconds > 0 ? "ahead of" : "behind"} this host's, past its ` +
        `${REGISTRY_LEEWAY_SECONDS} s leeway for nbf and exp`,
      fix: "synchronise both hosts' clocks (NTP)",
    };
  }
  const published = find("published-key");
  if (published.length) {
    return {
      cause: `the registry trusts the published key ${published[0].kid} but not the signing key ` +
        `${facts.kid}: its trust files predate the key rotation`,
      fix: "run --export-trust and give the registry the new rootcertbundle.pem (and jwks.json), " +
        "then restart it; sign with a new key only once every registry trusts it",
    };
  }
  const clockNote = skewSeconds !== undefined &&
      (skewSeconds > facts.lifetimeSeconds + REGISTRY_LEEWAY_SECONDS ||
        skewSeconds < -REGISTRY_LEEWAY_SECONDS)
    ? `; its clock is also ${skewSeconds} s off this host's`
    : "";
  return {
    cause: "the registry refused every token tried, " +
      "which leaves two causes it does not tell apart from outside: its auth.token.issuer is " +
      `not "${facts.issuer}" (Signing:Issuer), or its rootcertbundle (or jwks) holds none of ` +
      `this service's keys (signing kid ${facts.kid})${clockNote}`,
    fix: `set the registry's auth.token.issuer to "${facts.issuer}" (or Signing:Issuer to ` +
      "its value), and give it the rootcertbundle.pem and jwks.json of --export-trust; its " +
      "log names the one that failed",
  };
}
