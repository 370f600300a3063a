/** What --check and every start warn about. */

import assert from "node:assert/strict";
import { configurationWarnings, type LoadedKeys } from "../../src/config/warnings.ts";
import { loadSigningKey } from "../../src/token/keys.ts";
import { build, doc } from "../support/config.ts";
import { fixture } from "../support/service.ts";

const rsa = await loadSigningKey({ keyPath: fixture("keys/rsa.pkcs8.pem") });
const ed25519 = await loadSigningKey({ keyPath: fixture("keys/ed25519.pkcs8.pem") });
const RSA_ONLY: LoadedKeys = { signingKey: rsa, publishedKeys: [] };

Deno.test("an Authority that checks neither Audiences nor RequiredScopes is warned about", () => {
  const document = doc({
    Registry: { Realm: "https://tokens.test/token" },
    Authorities: [
      { Name: "stellaops", Issuer: "https://authority.test" },
      { Name: "ci", Issuer: "https://ci.test", RequiredScopes: [] },
      { Name: "k8s", Issuer: "https://k8s.test", RequiredScopes: [], Audiences: ["registry"] },
    ],
  });
  delete (document.RegistryTokenService as Record<string, unknown>).Authority;
  const warnings = configurationWarnings(build(document), RSA_ONLY);
  assert.equal(warnings.length, 1, warnings.join("\n"));
  assert.match(
    warnings[0],
    /^RegistryTokenService:Authorities:1 \(Authority "ci"\) checks neither Audiences nor RequiredScopes/,
  );
});

Deno.test("the default Authority settings draw no warning of their own", () => {
  const options = build(doc({ Registry: { Realm: "https://tokens.test/token" } }));
  assert.deepEqual(configurationWarnings(options, RSA_ONLY), []);
});

Deno.test("an Ed25519 key is warned about: distribution 2.8 cannot verify EdDSA nor start with its certificate", () => {
  const options = build(doc({ Registry: { Realm: "https://tokens.test/token" } }));
  const signing = configurationWarnings(options, { signingKey: ed25519, publishedKeys: [] });
  assert.equal(signing.length, 1, signing.join("\n"));
  assert.match(signing[0], /^Signing:KeyPath is an Ed25519 key \(EdDSA, kid [\w-]{43}\)/);
  assert.match(signing[0], /distribution 2\.8 cannot verify .* auth\.token\.jwks/);
  const published = configurationWarnings(options, {
    signingKey: rsa,
    publishedKeys: [{ key: rsa }, { key: ed25519 }],
  });
  assert.equal(published.length, 1, published.join("\n"));
  assert.match(published[0], /^Signing:PublishedKeys:1 is an Ed25519 key .*rootcertbundle/);
});
