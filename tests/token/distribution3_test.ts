import assert from "node:assert/strict";
import { decodeProtectedHeader, SignJWT } from "jose";
import { createPrivateKey } from "node:crypto";
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
