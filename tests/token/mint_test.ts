import assert from "node:assert/strict";
import { X509Certificate } from "node:crypto";
import forge from "node-forge";
import { decodeProtectedHeader, importJWK, importX509, jwtVerify } from "jose";
import { loadSigningKey, type SigningKey } from "../../src/token/keys.ts";
import { createTokenSigner, registryClaims } from "../../src/token/mint.ts";
import { selfSignedCertificate } from "../../src/token/certificate.ts";
import { registryTrust } from "../../src/token/registry_trust.ts";
import { NOW, NOW_SECONDS } from "../support/authority.ts";
import { fixture } from "../support/service.ts";

const claims = registryClaims({
  issuer: "registry-token-test",
  subject: "ci-bot",
  service: "registry.test",
  access: [{ type: "repository", name: "team/app", actions: ["pull", "push"] }],
  issuedAt: NOW_SECONDS,
  lifetimeSeconds: 300,
  jti: "jti-1",
});

const key = (file: string) => loadSigningKey({ keyPath: fixture(`keys/${file}`) });
const es256 = await key("ec-p256.pkcs8.pem");
const es384 = await key("ec-p384.pkcs8.pem");
const rs256 = await key("rsa.pkcs8.pem");
const ed25519 = await key("ed25519.pkcs8.pem");

/** The bytes of a compact JWS's signature. */
function signatureBytes(token: string): Uint8Array {
  const encoded = token.split(".")[2].replaceAll("-", "+").replaceAll("_", "/");
  return Uint8Array.from(atob(encoded), (char) => char.charCodeAt(0));
}

const ALGORITHMS: [SigningKey, signatureLength: number][] = [
  [es256, 64],
  [es384, 96],
  [rs256, 256],
  [ed25519, 64],
];

for (const [signingKey, signatureLength] of ALGORITHMS) {
  Deno.test(`createTokenSigner signs ${signingKey.alg} tokens that verify against the public JWK`, async () => {
    const token = await createTokenSigner(signingKey)(claims);
    const { payload, protectedHeader } = await jwtVerify(
      token,
      await importJWK(signingKey.publicJwk, signingKey.alg),
      { currentDate: NOW, algorithms: [signingKey.alg] },
    );
    assert.deepEqual(payload, claims);
    assert.deepEqual(protectedHeader, { alg: signingKey.alg, typ: "JWT", kid: signingKey.kid });
    assert.equal(signatureBytes(token).length, signatureLength);
  });
}

Deno.test("createTokenSigner's ES256 tokens carry x5c and verify against the leaf certificate", async () => {
  const signingKey = await key("ec-p256.key-and-cert.pem");
  const token = await createTokenSigner(signingKey)(claims);
  const header = decodeProtectedHeader(token);
  assert.equal(header.alg, "ES256");
  assert.deepEqual(header.x5c, signingKey.certificateChain);
  const leaf = `-----BEGIN CERTIFICATE-----\n${header.x5c![0]}\n-----END CERTIFICATE-----`;
  const { payload } = await jwtVerify(token, await importX509(leaf, "ES256"), {
    currentDate: NOW,
  });
  assert.equal(payload.sub, "ci-bot");
});

Deno.test("createTokenSigner's EdDSA tokens carry the Ed25519 leaf and its CA as x5c", async () => {
  const signingKey = await loadSigningKey({
    keyPath: fixture("keys/ed25519.pkcs8.pem"),
    certificatePath: fixture("keys/ed25519.chain.pem"),
  });
  const token = await createTokenSigner(signingKey)(claims);
  const header = decodeProtectedHeader(token);
  assert.equal(header.alg, "EdDSA");
  assert.deepEqual(header.x5c, signingKey.certificateChain);
  assert.equal(header.x5c!.length, 2);
  const leaf = `-----BEGIN CERTIFICATE-----\n${header.x5c![0]}\n-----END CERTIFICATE-----`;
  const { payload } = await jwtVerify(token, await importX509(leaf, "EdDSA"), {
    currentDate: NOW,
  });
  assert.equal(payload.sub, "ci-bot");
});

Deno.test("selfSignedCertificate certifies an Ed25519 key with an id-Ed25519 signature", async () => {
  const der = await selfSignedCertificate(ed25519, {
    commonName: "registry-token test",
    notBefore: NOW,
    notAfter: new Date(NOW.getTime() + 86_400_000),
    serialHex: "7f01ab",
  });
  const bytes = Uint8Array.from(atob(der), (char) => char.charCodeAt(0));
  const certificate = new X509Certificate(bytes);
  assert.ok(certificate.verify(certificate.publicKey), "self-signed by the key it certifies");
  assert.equal(certificate.publicKey.asymmetricKeyType, "ed25519");
  assert.equal(certificate.publicKey.export({ format: "jwk" }).x, ed25519.publicJwk.x);
  // signatureAlgorithm: id-Ed25519 alone, no parameters (RFC 8410 §3).
  const asn1 = forge.asn1.fromDer(String.fromCharCode(...bytes), { decodeBitStrings: false });
  const algorithm = asn1.value[1];
  assert.equal(algorithm.value.length, 1);
  assert.equal(forge.asn1.derToOid(algorithm.value[0].value), "1.3.101.112");
});

Deno.test("createTokenSigner's ES256 signature does not verify other claims", async () => {
  const sign = createTokenSigner(es256);
  const [header, payload] = (await sign({ ...claims, sub: "mallory" })).split(".");
  const signature = (await sign(claims)).split(".")[2];
  await assert.rejects(
    jwtVerify(`${header}.${payload}.${signature}`, await importJWK(es256.publicJwk, "ES256"), {
      currentDate: NOW,
    }),
    { code: "ERR_JWS_SIGNATURE_VERIFICATION_FAILED" },
  );
});

for (
  const [signingKey, oid] of [[es256, "1.2.840.10045.4.3.2"], [
    es384,
    "1.2.840.10045.4.3.3",
  ]] as const
) {
  Deno.test(`selfSignedCertificate certifies a ${signingKey.publicJwk.crv} key with a DER ECDSA signature`, async () => {
    for (const serialHex of ["01", "7f01ab", "0fedcba987654321"]) {
      const der = await selfSignedCertificate(signingKey, {
        commonName: "registry-token test",
        notBefore: NOW,
        notAfter: new Date(NOW.getTime() + 86_400_000),
        serialHex,
      });
      const bytes = Uint8Array.from(atob(der), (char) => char.charCodeAt(0));
      const certificate = new X509Certificate(bytes);
      assert.ok(certificate.verify(certificate.publicKey), "self-signed by the key it certifies");
      const { x, y, crv } = certificate.publicKey.export({ format: "jwk" });
      assert.deepEqual({ x, y, crv }, {
        x: signingKey.publicJwk.x,
        y: signingKey.publicJwk.y,
        crv: signingKey.publicJwk.crv,
      });
      // signatureAlgorithm: the ecdsa-with-SHA* OID alone, no NULL parameters (RFC 5758).
      const asn1 = forge.asn1.fromDer(String.fromCharCode(...bytes), { decodeBitStrings: false });
      const algorithm = asn1.value[1];
      assert.equal(algorithm.value.length, 1);
      assert.equal(forge.asn1.derToOid(algorithm.value[0].value), oid);
      // signatureValue: DER SEQUENCE { INTEGER r, INTEGER s }, not raw r || s.
      const signature = forge.asn1.fromDer(asn1.value[2].value.slice(1));
      assert.equal(signature.value.length, 2);
      assert.ok(signature.value.every((part: { type: number }) => part.type === 2));
    }
  });
}

Deno.test("registryTrust generates a bundle certificate for an EC key that has none", async () => {
  const trust = await registryTrust([es256], NOW, () => "05");
  assert.deepEqual(trust.generatedFor, [es256.kid]);
  const certificate = new X509Certificate(trust.bundlePem);
  assert.ok(certificate.verify(certificate.publicKey));
  assert.equal(certificate.publicKey.export({ format: "jwk" }).x, es256.publicJwk.x);
  assert.deepEqual(trust.jwks, { keys: [es256.publicJwk] });
});
