import assert from "node:assert/strict";
import { decodeJwt } from "jose";
import { dpopProof } from "../support/dpop.ts";
import { freePort } from "../support/peers.ts";
import {
  readMtlsFixture,
  startOidcProvider,
  type TestOidcProvider,
} from "../support/oidc_provider.ts";
import { MAIN, productionFlags, spawnDeno, writeConfig } from "../support/process.ts";
import { fixture, SIGNING_KEY_PATH } from "../support/service.ts";

const REGISTRY = "registry.oidc-test";
const SCOPE = "repository:team/app:pull";

/**
 * The service as a separate process under its production permissions, trusting the real
 * oidc-provider through its discovery document over loopback.
 */
async function startService(provider: TestOidcProvider, patch: Record<string, unknown> = {}) {
  const configPath = await writeConfig({
    RegistryTokenService: {
      Server: { Host: "127.0.0.1", Port: 0 },
      Authority: {
        Issuer: provider.issuer,
        MetadataAddress: provider.metadataAddress,
        Audiences: [provider.resource],
      },
      Signing: { Issuer: "registry-token-oidc-test", KeyPath: SIGNING_KEY_PATH },
      Plans: [{ Name: "ci", Repositories: [{ Pattern: "team/*", Actions: ["pull", "push"] }] }],
      DefaultPlan: "ci",
      ...patch,
    },
  });
  const process = spawnDeno(await productionFlags(configPath), MAIN, ["--config", configPath]);
  const { port, tls } = await process.waitForLog("listening");
  const base = `${tls ? "https" : "http"}://127.0.0.1:${port}`;
  return {
    process,
    tokenUrl: `${base}/token?service=${REGISTRY}&scope=${encodeURIComponent(SCOPE)}`,
    htu: `${base}/token`,
    stop: async () => assert.equal((await process.stop()).code, 0, process.stderr.join("\n")),
  };
}

async function reasonOf(response: Response) {
  return (await response.json()).errors?.[0]?.detail?.reason;
}

Deno.test("a bearer token from a real OpenID provider is verified through its discovery document", async () => {
  const provider = await startOidcProvider();
  const service = await startService(provider);
  try {
    const token = await provider.bearerToken({ plan: "ci", license: "lic-7" });
    const response = await fetch(service.tokenUrl, {
      headers: { authorization: `Bearer ${token}` },
    });
    assert.equal(response.status, 200);
    const claims = decodeJwt((await response.json()).token);
    assert.equal(claims.sub, decodeJwt(token).sub);
    assert.equal(claims["stellaops:license"], "lic-7");

    const forged = `${token.slice(0, -4)}AAAA`;
    const refused = await fetch(service.tokenUrl, {
      headers: { authorization: `Bearer ${forged}` },
    });
    assert.equal(refused.status, 401);
    assert.equal(await reasonOf(refused), "token_signature_invalid");
  } finally {
    await service.stop();
    await provider.close();
  }
});

Deno.test("a DPoP-bound token from the provider is accepted only with a fresh proof by its key", async () => {
  const provider = await startOidcProvider();
  // DPoP proofs are checked against the public URL, which must therefore be configured.
  const port = freePort();
  const service = await startService(provider, {
    Server: { Host: "127.0.0.1", Port: port, PublicBaseUrl: `http://127.0.0.1:${port}` },
    Authority: {
      Issuer: provider.issuer,
      MetadataAddress: provider.metadataAddress,
      SenderConstraint: "dpop",
    },
  });
  try {
    const { token, key } = await provider.dpopToken();
    assert.ok(decodeJwt(token).cnf, "the provider bound the token");
    const proof = await dpopProof(key, { htm: "GET", htu: service.htu, accessToken: token });
    const headers = { authorization: `DPoP ${token}`, dpop: proof };
    const response = await fetch(service.tokenUrl, { headers });
    assert.equal(response.status, 200, JSON.stringify(await response.clone().json()));
    await response.body?.cancel();

    const replayed = await fetch(service.tokenUrl, { headers });
    assert.equal(await reasonOf(replayed), "dpop_proof_replayed");

    const asBearer = await fetch(service.tokenUrl, {
      headers: { authorization: `Bearer ${token}` },
    });
    assert.equal(await reasonOf(asBearer), "dpop_token_as_bearer");

    const unbound = await fetch(service.tokenUrl, {
      headers: { authorization: `Bearer ${await provider.bearerToken()}` },
    });
    assert.equal(await reasonOf(unbound), "token_unbound");
  } finally {
    await service.stop();
    await provider.close();
  }
});

Deno.test("a certificate-bound token is accepted over the service's own mTLS only with its certificate", async () => {
  const provider = await startOidcProvider();
  const service = await startService(provider, {
    Server: {
      Host: "127.0.0.1",
      Port: 0,
      Tls: {
        CertificatePath: fixture("mtls/server.pem"),
        KeyPath: fixture("mtls/server.key"),
        ClientCaPath: fixture("mtls/ca.pem"),
      },
    },
    Authority: {
      Issuer: provider.issuer,
      MetadataAddress: provider.metadataAddress,
      SenderConstraint: "mtls",
    },
  });
  const caCerts = [provider.caPem];
  const clientAs = async (name: string) =>
    Deno.createHttpClient({
      caCerts,
      cert: await readMtlsFixture(`${name}.pem`),
      key: await readMtlsFixture(`${name}.key`),
    });
  const clients = {
    a: await clientAs("client-a"),
    b: await clientAs("client-b"),
    rogue: await clientAs("rogue"),
    none: Deno.createHttpClient({ caCerts }),
  };
  try {
    const { token } = await provider.mtlsToken("client-a");
    const headers = { authorization: `Bearer ${token}` };
    const ok = await fetch(service.tokenUrl, { headers, client: clients.a });
    assert.equal(ok.status, 200, JSON.stringify(await ok.clone().json()));
    await ok.body?.cancel();

    const other = await fetch(service.tokenUrl, { headers, client: clients.b });
    assert.equal(await reasonOf(other), "mtls_certificate_mismatch");
    const rogue = await fetch(service.tokenUrl, { headers, client: clients.rogue });
    assert.equal(
      await reasonOf(rogue),
      "mtls_certificate_missing",
      "a certificate outside the client CA does not count",
    );
    const none = await fetch(service.tokenUrl, { headers, client: clients.none });
    assert.equal(await reasonOf(none), "mtls_certificate_missing");
  } finally {
    Object.values(clients).forEach((client) => client.close());
    await service.stop();
    await provider.close();
  }
});

Deno.test("a forwarded client certificate from an address that is not a trusted proxy is refused", async () => {
  const provider = await startOidcProvider();
  const service = await startService(provider, {
    Server: {
      Host: "127.0.0.1",
      Port: 0,
      ClientCertificateHeader: "X-Client-Cert",
      TrustedProxies: ["192.0.2.10"],
    },
    Authority: {
      Issuer: provider.issuer,
      MetadataAddress: provider.metadataAddress,
      SenderConstraint: "mtls",
    },
  });
  try {
    const { token, certificatePem } = await provider.mtlsToken("client-a");
    const response = await fetch(service.tokenUrl, {
      headers: {
        authorization: `Bearer ${token}`,
        "x-client-cert": encodeURIComponent(certificatePem),
      },
    });
    assert.equal(response.status, 401);
    assert.equal(await reasonOf(response), "mtls_proxy_untrusted");
  } finally {
    await service.stop();
    await provider.close();
  }
});
