import assert from "node:assert/strict";
import { X509Certificate } from "node:crypto";
import { calculateJwkThumbprint } from "jose";
import { loadSigningKey } from "../../src/token/keys.ts";
import { selfSignedCertificate } from "../../src/token/certificate.ts";
import { registryConfigSnippets, registryTrust } from "../../src/token/registry_trust.ts";
import { createTestAuthority, NOW } from "../support/authority.ts";
import { fixture, testOptions } from "../support/service.ts";

const keyOnly = await loadSigningKey({ keyPath: fixture("keys/rsa.pkcs8.pem") });
const withChain = await loadSigningKey({
  keyPath: fixture("keys/rsa.pkcs8.pem"),
  certificatePath: fixture("keys/rsa.chain.pem"),
});

Deno.test("selfSignedCertificate issues a certificate for the key, signed by the key", async () => {
  const der = await selfSignedCertificate(keyOnly, {
    commonName: "registry-token test",
    notBefore: NOW,
    notAfter: new Date(NOW.getTime() + 86_400_000),
    serialHex: "7f01ab",
  });
  const certificate = new X509Certificate(Uint8Array.from(atob(der), (c) => c.charCodeAt(0)));
  assert.equal(certificate.subject, "CN=registry-token test");
  assert.equal(certificate.issuer, certificate.subject);
  assert.equal(certificate.serialNumber.toLowerCase(), "7f01ab");
  assert.ok(certificate.verify(certificate.publicKey), "self-signed by the key it certifies");
  const jwk = certificate.publicKey.export({ format: "jwk" });
  assert.equal(jwk.n, keyOnly.publicJwk.n);
  assert.equal(new Date(certificate.validFrom).getTime(), NOW.getTime());
});

Deno.test("registryTrust generates a bundle certificate for a key that has none", async () => {
  const trust = await registryTrust([keyOnly], NOW, () => "05");
  assert.equal(trust.generatedFor.length, 1);
  const certificates = trust.bundlePem.match(/BEGIN CERTIFICATE/g) ?? [];
  assert.equal(certificates.length, 1);
  const certificate = new X509Certificate(trust.bundlePem);
  assert.equal(certificate.publicKey.export({ format: "jwk" }).n, keyOnly.publicJwk.n);
  assert.ok(new Date(certificate.validTo).getTime() > NOW.getTime() + 4 * 365 * 86_400_000);
  assert.deepEqual(trust.jwks, { keys: [keyOnly.publicJwk] });
});

Deno.test("registryTrust bundles the configured chain as it is", async () => {
  const trust = await registryTrust([withChain], NOW, () => "05");
  assert.deepEqual(trust.generatedFor, []);
  assert.equal(
    trust.bundlePem,
    await Deno.readTextFile(fixture("keys/rsa.chain.pem")),
  );
});

Deno.test("the exported JWKS names the key by the kid tokens carry, in either format", async () => {
  const thumbprinted = await loadSigningKey({
    keyPath: fixture("keys/rsa.pkcs8.pem"),
    keyIdFormat: "thumbprint",
  });
  const thumbprint = await calculateJwkThumbprint({
    kty: "RSA",
    n: keyOnly.publicJwk.n,
    e: keyOnly.publicJwk.e,
  });
  assert.equal(thumbprinted.kid, thumbprint);
  assert.equal((await registryTrust([thumbprinted], NOW, () => "05")).jwks.keys[0].kid, thumbprint);
  assert.match(keyOnly.kid, /^([A-Z2-7]{4}:){11}[A-Z2-7]{4}$/);
  assert.equal((await registryTrust([keyOnly], NOW, () => "05")).jwks.keys[0].kid, keyOnly.kid);
});

/** Options whose snippets name a realm and a service, and the `auth.token` lines they share. */
const snippetOptions = testOptions(await createTestAuthority(), {
  Registry: { Realm: "https://tokens.example/token", AllowedServices: ["registry.example"] },
});
const AUTH_TOKEN = `auth:
  token:
    realm: https://tokens.example/token
    service: registry.example
    issuer: registry-token-test
    rootcertbundle: /etc/registry-trust/rootcertbundle.pem`;

Deno.test("registryConfigSnippets give matching auth.token sections for distribution 2.8 and 3.x", () => {
  assert.equal(
    registryConfigSnippets(snippetOptions, "/etc/registry-trust", [keyOnly]),
    `# distribution 2.8 (config.yml)
${AUTH_TOKEN}

# distribution 3.x (config.yml)
${AUTH_TOKEN}
    jwks: /etc/registry-trust/jwks.json
`,
  );
});

Deno.test("registryConfigSnippets print only the 3.x section with jwks when a key is Ed25519, and say why", async () => {
  const ed25519 = await loadSigningKey({ keyPath: fixture("keys/ed25519.pkcs8.pem") });
  for (const keys of [[ed25519], [keyOnly, ed25519], [ed25519, keyOnly]]) {
    assert.equal(
      registryConfigSnippets(snippetOptions, "/etc/registry-trust", keys),
      `# distribution 2.8: none; it cannot verify EdDSA, and does not start with an Ed25519 certificate (here for ${ed25519.kid}) in its rootcertbundle

# distribution 3.x (config.yml); keep jwks: v3.0.0 finds an EC or Ed25519 key's kid only there (or sent as x5c)
${AUTH_TOKEN}
    jwks: /etc/registry-trust/jwks.json
`,
    );
  }
});

Deno.test("registryConfigSnippets steer 3.x sites with an EC key to jwks, and still print 2.8's", async () => {
  const ec = await loadSigningKey({ keyPath: fixture("keys/ec-p256.pkcs8.pem") });
  const snippets = registryConfigSnippets(snippetOptions, "/trust", [ec]);
  assert.match(snippets, /^# distribution 2\.8 \(config\.yml\)\nauth:/);
  assert.match(
    snippets,
    /# distribution 3\.x \(config\.yml\); keep jwks: .*\n(.*\n){6} {4}jwks: \/trust\/jwks\.json\n$/,
  );
});

Deno.test("registryTrust publishes an Ed25519 key as an OKP JWK and bundles a certificate generated for it", async () => {
  const ed25519 = await loadSigningKey({ keyPath: fixture("keys/ed25519.pkcs8.pem") });
  const trust = await registryTrust([keyOnly, ed25519], NOW, () => "05");
  assert.deepEqual(trust.generatedFor, [keyOnly.kid, ed25519.kid]);
  assert.deepEqual(trust.jwks.keys[1], ed25519.publicJwk);
  assert.equal(trust.jwks.keys[1].kty, "OKP");
  assert.equal(trust.jwks.keys[1].crv, "Ed25519");
  const pems = trust.bundlePem.match(/-----BEGIN CERTIFICATE-----[^-]+-----END CERTIFICATE-----/g)!;
  const certificate = new X509Certificate(pems[1]);
  assert.equal(certificate.publicKey.asymmetricKeyType, "ed25519");
  assert.ok(certificate.verify(certificate.publicKey));
});
