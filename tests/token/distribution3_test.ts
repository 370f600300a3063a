import assert from "node:assert/strict";
import { decodeJwt, decodeProtectedHeader, SignJWT } from "jose";
import { loadSigningKey } from "../../src/token/keys.ts";
import { createTokenSigner } from "../../src/token/mint.ts";
import { createPrivateKey } from "node:crypto";
import { calculateJwkThumbprint } from "jose";
import { registryTrust } from "../../src/token/registry_trust.ts";
import { basic, createTestAuthority, NOW } from "../support/authority.ts";
import { verifyLikeDistribution3 } from "../support/distribution3.ts";
import { fixture, REGISTRY, startTestService } from "../support/service.ts";

const authority = await createTestAuthority();
const ISSUER = "registry-token-test";

async function mintWith(signing: Record<string, unknown>) {
  const service = await startTestService(authority, { Signing: { Issuer: ISSUER, ...signing } });
  const response = await service.request(`/token?service=${REGISTRY}&scope=repository:a/b:pull`, {
    headers: { authorization: basic(await authority.token()) },
  });
  assert.equal(response.status, 200);
  return { service, token: (await response.json()).token as string };
}

const config = (rootCertBundle: string, jwks?: { readonly keys: readonly JsonWebKey[] }) => ({
  issuer: ISSUER,
  service: REGISTRY,
  rootCertBundle,
  jwks,
});

/** The token `mintWith(signing)` gives, and the trust material `--export-trust` writes for it. */
async function mintAndExport(signing: Record<string, unknown>) {
  const { service, token } = await mintWith(signing);
  return { token, trust: await registryTrust([service.signingKey], NOW, () => "01") };
}

// One test per row of what a real distribution v3.0.0 was measured to accept and refuse
// (docs/registry.md#how-the-registry-finds-the-key).

Deno.test("distribution 3.x accepts tokens through x5c when a certificate is configured", async () => {
  const { token } = await mintWith({ KeyPath: fixture("keys/rsa.key-and-cert.pem") });
  assert.ok(decodeProtectedHeader(token).x5c);
  const bundle = await Deno.readTextFile(fixture("keys/rsa.cert.pem"));
  const claims = await verifyLikeDistribution3(token, config(bundle), NOW);
  assert.equal(claims.aud, REGISTRY);
});

Deno.test("distribution 3.x accepts an x5c leaf issued by a CA in the bundle", async () => {
  const { token } = await mintWith({
    KeyPath: fixture("keys/rsa.pkcs8.pem"),
    CertificatePath: fixture("keys/rsa.chain.pem"),
  });
  const bundle = await Deno.readTextFile(fixture("keys/ca.cert.pem"));
  await verifyLikeDistribution3(token, config(bundle), NOW);
});

Deno.test("distribution 3.x accepts the thumbprint kid against the exported certificate bundle", async () => {
  const { service, token } = await mintWith({
    KeyPath: fixture("keys/rsa.pkcs8.pem"),
    KeyIdFormat: "thumbprint",
  });
  const header = decodeProtectedHeader(token);
  assert.equal(header.x5c, undefined);
  assert.match(header.kid!, /^[A-Za-z0-9_-]{43}$/);
  const trust = await registryTrust([service.signingKey], NOW, () => "01");
  assert.equal(trust.generatedFor.length, 1);
  await verifyLikeDistribution3(token, config(trust.bundlePem), NOW);
});

Deno.test("distribution 3.x accepts ES256 and EdDSA tokens whose x5c chains a leaf to a CA in the bundle", async () => {
  const bundle = await Deno.readTextFile(fixture("keys/ca.cert.pem"));
  for (const [key, alg] of [["ec-p256", "ES256"], ["ed25519", "EdDSA"]]) {
    const { token } = await mintWith({
      KeyPath: fixture(`keys/${key}.pkcs8.pem`),
      CertificatePath: fixture(`keys/${key}.chain.pem`),
    });
    assert.equal(decodeProtectedHeader(token).alg, alg);
    await verifyLikeDistribution3(token, config(bundle), NOW);
  }
});

Deno.test("distribution 3.x accepts ES256 tokens through the exported JWKS", async () => {
  const { token, trust } = await mintAndExport({ KeyPath: fixture("keys/ec-p256.pkcs8.pem") });
  assert.equal(decodeProtectedHeader(token).alg, "ES256");
  await verifyLikeDistribution3(token, config(trust.bundlePem, trust.jwks), NOW);
});

Deno.test("distribution 3.x accepts EdDSA tokens through the exported JWKS, under the thumbprint kid", async () => {
  const { token, trust } = await mintAndExport({ KeyPath: fixture("keys/ed25519.pkcs8.pem") });
  const header = decodeProtectedHeader(token);
  assert.equal(header.alg, "EdDSA");
  assert.deepEqual(trust.jwks.keys.map(({ kty, crv, kid }) => ({ kty, crv, kid })), [
    { kty: "OKP", crv: "Ed25519", kid: header.kid },
  ]);
  await verifyLikeDistribution3(token, config(trust.bundlePem, trust.jwks), NOW);
});

Deno.test("distribution 3.0.0 refuses an ES256 thumbprint kid with the bundle alone: it thumbprints the curve's generator", async () => {
  const { token, trust } = await mintAndExport({
    KeyPath: fixture("keys/ec-p256.pkcs8.pem"),
    KeyIdFormat: "thumbprint",
  });
  await assert.rejects(
    verifyLikeDistribution3(token, config(trust.bundlePem), NOW),
    /untrusted key with ID/,
  );
  // The model is v3.0.0's defect, not a refusal of EC keys: a kid of the generator point's
  // thumbprint finds the bundle key, whose signature then verifies.
  const generator = await calculateJwkThumbprint({
    kty: "EC",
    crv: "P-256",
    x: "axfR8uEsQkf4vOblY6RA8ncDfYEt6zOg9KE5RdiYwpY",
    y: "T-NC4v4af5uO5-tKfA-eFivOM1drMV7Oy7ZAaDe_UfU",
  });
  const key = await loadSigningKey({
    keyPath: fixture("keys/ec-p256.pkcs8.pem"),
    keyId: generator,
  });
  const claims = decodeJwt(token) as Parameters<ReturnType<typeof createTokenSigner>>[0];
  await verifyLikeDistribution3(await createTokenSigner(key)(claims), config(trust.bundlePem), NOW);
  await verifyLikeDistribution3(token, config(trust.bundlePem, trust.jwks), NOW);
});

Deno.test("distribution 3.0.0 refuses an EdDSA token with the bundle alone: it thumbprints no Ed25519 key", async () => {
  const { token, trust } = await mintAndExport({ KeyPath: fixture("keys/ed25519.pkcs8.pem") });
  assert.equal(trust.generatedFor.length, 1, "the bundle holds a certificate of the key");
  await assert.rejects(
    verifyLikeDistribution3(token, config(trust.bundlePem), NOW),
    /untrusted key with ID/,
  );
});

Deno.test("distribution 3.x refuses a bare libtrust kid but accepts it through the exported JWKS", async () => {
  const { service, token } = await mintWith({ KeyPath: fixture("keys/rsa.pkcs8.pem") });
  const trust = await registryTrust([service.signingKey], NOW, () => "01");
  await assert.rejects(
    verifyLikeDistribution3(token, config(trust.bundlePem), NOW),
    /untrusted key with ID/,
  );
  await verifyLikeDistribution3(token, config(trust.bundlePem, trust.jwks), NOW);
});

Deno.test("the distribution 3.x verifier refuses forgeries, so its acceptances mean something", async () => {
  const { token } = await mintWith({ KeyPath: fixture("keys/rsa.key-and-cert.pem") });
  const bundle = await Deno.readTextFile(fixture("keys/rsa.cert.pem"));
  const [header, ,] = token.split(".");
  const other = createPrivateKey(await Deno.readTextFile(fixture("keys/ca.pkcs8.pem")));
  const forged = await new SignJWT({ iss: ISSUER, aud: [REGISTRY], exp: NOW.getTime() / 1000 + 60 })
    .setProtectedHeader(JSON.parse(atob(header.replace(/-/g, "+").replace(/_/g, "/"))))
    .sign(other);
  await assert.rejects(verifyLikeDistribution3(forged, config(bundle), NOW), /signature/);
  await assert.rejects(
    verifyLikeDistribution3(token, { ...config(bundle), service: "other" }, NOW),
    /audience/,
  );
  const caBundle = await Deno.readTextFile(fixture("keys/ca.cert.pem"));
  await assert.rejects(verifyLikeDistribution3(token, config(caBundle), NOW), /chain/);
});

Deno.test("a distribution 3.x registry trusting one exported JWKS accepts tokens across an RS256 → EdDSA → RS256 rotation", async () => {
  const rsa = fixture("keys/rsa.pkcs8.pem");
  const ed25519 = fixture("keys/ed25519.pkcs8.pem");
  // Before: the RSA key signs and the Ed25519 key is published; the registry gets this export.
  const before = await mintWith({ KeyPath: rsa, PublishedKeys: [{ KeyPath: ed25519 }] });
  const keys = [before.service.signingKey, ...before.service.publishedKeys.map(({ key }) => key)];
  const trust = await registryTrust(keys, NOW, () => "01");
  const registry = config(trust.bundlePem, trust.jwks);
  await verifyLikeDistribution3(before.token, registry, NOW);
  // After the swap (the RSA key published until its tokens expire), and back again: the same
  // export still verifies every token still in use.
  const after = await mintWith({ KeyPath: ed25519, PublishedKeys: [{ KeyPath: rsa }] });
  assert.equal(decodeProtectedHeader(after.token).alg, "EdDSA");
  await verifyLikeDistribution3(after.token, registry, NOW);
  await verifyLikeDistribution3(before.token, registry, NOW);
  const back = await mintWith({ KeyPath: rsa, PublishedKeys: [{ KeyPath: ed25519 }] });
  assert.equal(decodeProtectedHeader(back.token).alg, "RS256");
  await verifyLikeDistribution3(back.token, registry, NOW);
  await verifyLikeDistribution3(after.token, registry, NOW);
  const jwks = await (await after.service.request("/jwks")).json();
  assert.deepEqual(jwks.keys.map(({ kty }: { kty: string }) => kty), ["OKP", "RSA"]);
});
