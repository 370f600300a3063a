import assert from "node:assert/strict";
import { diagnoseRefusal, type SigningFacts } from "../../src/doctor/diagnosis.ts";

const facts: SigningFacts = {
  issuer: "registry-token",
  kid: "AAAA:BBBB",
  explicitKeyId: false,
  keyIdFormat: "libtrust",
  carriesChain: false,
  lifetimeSeconds: 300,
};
const REALM = "https://tokens.example/token";

Deno.test("the configured form accepted but the realm's token refused: another configuration at the realm", () => {
  const finding = diagnoseRefusal([{ kind: "none" }], facts, REALM, 0);
  assert.match(finding.cause, /the service answering there runs another configuration/);
  assert.match(finding.fix, /https:\/\/tokens\.example\/token/);
});

Deno.test("the same kid without x5c accepted: the registry refuses the chain", () => {
  const finding = diagnoseRefusal(
    [{ kind: "kid", format: "libtrust", kid: "AAAA:BBBB" }],
    { ...facts, carriesChain: true },
    REALM,
    0,
  );
  assert.match(finding.cause, /not the certificate chain the tokens carry in x5c/);
  assert.match(finding.fix, /remove Signing:CertificatePath/);
});

Deno.test("another kid form accepted: KeyIdFormat, or KeyId when it is set explicitly", () => {
  const accepted = [{ kind: "kid" as const, format: "thumbprint" as const, kid: "tp" }];
  assert.match(
    diagnoseRefusal(accepted, facts, REALM, 0).fix,
    /^set Signing:KeyIdFormat: thumbprint/,
  );
  const explicit = diagnoseRefusal(accepted, { ...facts, explicitKeyId: true }, REALM, 0);
  assert.match(explicit.cause, /\(Signing:KeyId\)/);
  assert.match(explicit.fix, /^remove Signing:KeyId \(or set it to tp\)/);
});

Deno.test("the registry's service as aud accepted: Signing:Audience", () => {
  const finding = diagnoseRefusal(
    [{ kind: "audience", audience: "registry.example" }],
    facts,
    REALM,
    0,
  );
  assert.match(finding.fix, /^set Signing:Audience: registry\.example, or remove it/);
});

Deno.test("the registry's clock accepted: the clocks, by how much and which way", () => {
  const ahead = diagnoseRefusal([{ kind: "clock", skewSeconds: 400 }], facts, REALM, 400);
  assert.match(ahead.cause, /400 s ahead of this host's, past its 60 s leeway/);
  assert.match(ahead.fix, /NTP/);
  const behind = diagnoseRefusal([{ kind: "clock", skewSeconds: -90 }], facts, REALM, -90);
  assert.match(behind.cause, /90 s behind/);
});

Deno.test("a published key accepted: the trust export predates the rotation", () => {
  const finding = diagnoseRefusal([{ kind: "published-key", kid: "OLD" }], facts, REALM, 0);
  assert.match(finding.cause, /trusts the published key OLD but not the signing key AAAA:BBBB/);
});

Deno.test("nothing accepted: issuer or trust, and the clock when it is off as well", () => {
  const finding = diagnoseRefusal([], facts, REALM, 2);
  assert.match(finding.cause, /auth\.token\.issuer is not "registry-token" \(Signing:Issuer\)/);
  assert.match(finding.cause, /holds none of this service's keys \(signing kid AAAA:BBBB\)$/);
  assert.match(diagnoseRefusal([], facts, REALM, -120).cause, /its clock is also -120 s off/);
});
