import assert from "node:assert/strict";
import { X509Certificate } from "node:crypto";
import { sha256Base64Url } from "../../src/encoding.ts";
import { parseForwardedCertificate } from "../../src/http/connection.ts";
import { createTestAuthority } from "../support/authority.ts";
import { fixture, REGISTRY, startTestService } from "../support/service.ts";
import { reasonOf } from "../support/http.ts";

const authority = await createTestAuthority();
const PATH = `/token?service=${REGISTRY}&scope=repository:any/repo:pull`;

async function der(name: string): Promise<Uint8Array> {
  return new Uint8Array(
    new X509Certificate(await Deno.readTextFile(fixture(`mtls/${name}.pem`))).raw,
  );
}

const clientA = await der("client-a");
const clientB = await der("client-b");

async function certificateBoundToken(certificate: Uint8Array) {
  return await authority.token({
    claims: { cnf: { "x5t#S256": sha256Base64Url(certificate) } },
  });
}

const mtlsProfile = (extra: Record<string, unknown> = {}) => ({
  Authority: {
    Issuer: authority.issuer,
    JwksPath: "memory:authority-jwks.json",
    SenderConstraint: "mtls",
  },
  Server: { ClientCertificateHeader: "X-Client-Cert", TrustedProxies: ["10.0.0.5"], ...extra },
});

Deno.test("a certificate-bound token is accepted on a connection with its certificate", async () => {
  const service = await startTestService(authority);
  const token = await certificateBoundToken(clientA);
  const headers = { authorization: `Bearer ${token}` };
  const response = await service.request(PATH, { headers }, { clientCertificate: clientA });
  assert.equal(response.status, 200);
});

Deno.test("a certificate-bound token is refused without or with another client's certificate", async () => {
  const service = await startTestService(authority);
  const headers = { authorization: `Bearer ${await certificateBoundToken(clientA)}` };
  const missing = await service.request(PATH, { headers });
  assert.equal(missing.status, 401);
  assert.equal(await reasonOf(missing), "mtls_certificate_missing");
  const other = await service.request(PATH, { headers }, { clientCertificate: clientB });
  assert.equal(other.status, 401);
  assert.equal(await reasonOf(other), "mtls_certificate_mismatch");
});

Deno.test("SenderConstraint mtls refuses unbound and DPoP-bound tokens", async () => {
  const service = await startTestService(authority, mtlsProfile());
  const unbound = await service.request(PATH, {
    headers: { authorization: `Bearer ${await authority.token()}` },
  }, { clientCertificate: clientA });
  assert.equal(await reasonOf(unbound), "token_unbound");
  const dpopBound = await service.request(PATH, {
    headers: {
      authorization: `Bearer ${await authority.token({ claims: { cnf: { jkt: "x" } } })}`,
    },
  }, { clientCertificate: clientA });
  assert.equal(await reasonOf(dpopBound), "token_unbound");
});

Deno.test("a trusted proxy may forward the client certificate; anyone else is refused", async () => {
  const service = await startTestService(authority, mtlsProfile());
  const pem = await Deno.readTextFile(fixture("mtls/client-a.pem"));
  const headers = {
    authorization: `Bearer ${await certificateBoundToken(clientA)}`,
    "x-client-cert": encodeURIComponent(pem),
  };
  const viaProxy = await service.request(PATH, { headers }, { remoteAddress: "10.0.0.5" });
  assert.equal(viaProxy.status, 200);
  const mapped = await service.request(PATH, { headers }, { remoteAddress: "::ffff:10.0.0.5" });
  assert.equal(mapped.status, 200, "an IPv4-mapped address is the same proxy");
  const direct = await service.request(PATH, { headers }, { remoteAddress: "10.0.0.6" });
  assert.equal(direct.status, 401);
  assert.equal(await reasonOf(direct), "mtls_proxy_untrusted");
});

Deno.test("a certificate from the TLS handshake wins over a forwarded one", async () => {
  const service = await startTestService(authority, mtlsProfile());
  const pemB = await Deno.readTextFile(fixture("mtls/client-b.pem"));
  const response = await service.request(PATH, {
    headers: {
      authorization: `Bearer ${await certificateBoundToken(clientA)}`,
      "x-client-cert": encodeURIComponent(pemB),
    },
  }, { clientCertificate: clientA, remoteAddress: "10.0.0.9" });
  assert.equal(response.status, 200);
});

Deno.test("SenderConstraint dpop-or-mtls accepts a certificate-bound token and refuses unbound ones", async () => {
  const service = await startTestService(authority, {
    ...mtlsProfile(),
    Authority: {
      Issuer: authority.issuer,
      JwksPath: "memory:authority-jwks.json",
      SenderConstraint: "dpop-or-mtls",
    },
  });
  const bound = await service.request(PATH, {
    headers: { authorization: `Bearer ${await certificateBoundToken(clientB)}` },
  }, { clientCertificate: clientB });
  assert.equal(bound.status, 200);
  const unbound = await service.request(PATH, {
    headers: { authorization: `Bearer ${await authority.token()}` },
  }, { clientCertificate: clientB });
  assert.equal(await reasonOf(unbound), "token_unbound");
});

Deno.test("parseForwardedCertificate reads escaped PEM, PEM and bare base64 DER", async () => {
  const pem = await Deno.readTextFile(fixture("mtls/client-a.pem"));
  const base64 = btoa(String.fromCharCode(...clientA));
  for (const value of [encodeURIComponent(pem), pem.replace(/\n/g, " "), base64]) {
    assert.deepEqual(parseForwardedCertificate(value), clientA);
  }
  const twoCertificates = `${encodeURIComponent(pem)},${encodeURIComponent(pem)}`;
  for (
    const value of ["%E0%A4%A", "not base64!", "x".repeat(20_000), twoCertificates, pem + pem]
  ) {
    assert.throws(() => parseForwardedCertificate(value), /not readable/);
  }
});
